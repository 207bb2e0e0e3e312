"""Differentially private aggregates through OpenDP, with a privacy-budget ledger per release.

Each released aggregate is a Laplace measurement built with OpenDP
(``opendp.measurements.make_laplace``); OpenDP's privacy map gives the ε it spends for the stated
sensitivity, and :class:`PrivacyLedger` refuses a measurement that would overspend the release's
budget. Counts and sums per group come from a table with one row per person, so a person is in one
group and the groups compose in parallel (Dwork & Roth 2014, §2.4): a count has L1 sensitivity 1, a
sum of values clamped to ``[lower, upper]`` has ``max(|lower|, |upper|)``; a mean is the noisy sum
over the noisy count. Counts over cells a person can appear in many times (buyers per category and
day) are bounded in SQL first (:func:`bounded_cell_counts`): once per cell, at most ``m`` cells per
person, so the L1 sensitivity is ``m``.

Noise: with ``seed=None`` the noise is drawn by OpenDP's own sampler (cryptographically secure and
free of the floating-point attack on naive Laplace sampling, Mironov 2012): use that for anything
published. With a seed, the same Laplace(0, b) noise is drawn by NumPy so that a notebook's outputs
are reproducible; that mode is for demonstrations and tests, and the ledger records which one was used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lsc_utils.checks import require_columns


class PrivacyBudgetExceeded(ValueError):
    """A measurement would spend more ε than is left in the release's budget."""


def _opendp():
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


def laplace_measurement(scale: float):
    """OpenDP's Laplace mechanism on a vector of floats (L1 distance) with noise scale ``scale``."""
    dp = _opendp()
    space = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float)
    return dp.m.make_laplace(*space, scale=scale)


def epsilon_spent(scale: float, sensitivity: float) -> float:
    """ε of a Laplace measurement with this noise scale at this L1 sensitivity (OpenDP's privacy map)."""
    return float(laplace_measurement(scale).map(float(sensitivity)))


def scale_for(epsilon: float, sensitivity: float) -> float:
    """Noise scale ``b = sensitivity / ε``, checked against OpenDP's privacy map."""
    if epsilon <= 0 or sensitivity <= 0:
        raise ValueError(f"epsilon and sensitivity must be positive (got {epsilon}, {sensitivity})")
    scale = sensitivity / epsilon
    spent = epsilon_spent(scale, sensitivity)
    if spent > epsilon * (1 + 1e-9):
        raise ValueError(f"OpenDP charges ε = {spent} for scale {scale}, above the requested {epsilon}")
    return scale


@dataclass
class PrivacyLedger:
    """The ε budget of one release and what each measurement spent (basic sequential composition)."""

    budget: float
    entries: list[dict[str, object]] = field(default_factory=list)

    @property
    def spent(self) -> float:
        """ε spent so far."""
        return float(sum(float(e["epsilon"]) for e in self.entries))

    @property
    def remaining(self) -> float:
        """ε left."""
        return self.budget - self.spent

    def charge(self, name: str, epsilon: float, sensitivity: float, scale: float, noise: str) -> None:
        """Record a measurement, or raise :class:`PrivacyBudgetExceeded` when it does not fit."""
        if epsilon > self.remaining + 1e-12:
            raise PrivacyBudgetExceeded(
                f"privacy budget exceeded: '{name}' needs ε = {epsilon:g} but only {self.remaining:g} of "
                f"{self.budget:g} is left"
            )
        self.entries.append(
            {"release": name, "epsilon": epsilon, "sensitivity": sensitivity, "scale": scale, "noise": noise}
        )

    def table(self) -> pd.DataFrame:
        """One row per measurement plus the running total."""
        frame = pd.DataFrame(self.entries, columns=["release", "epsilon", "sensitivity", "scale", "noise"])
        frame["cumulative_epsilon"] = frame["epsilon"].cumsum()
        return frame


def laplace_noise(values: np.ndarray, scale: float, seed: int | None) -> np.ndarray:
    """``values`` plus Laplace(0, ``scale``) noise: OpenDP's sampler without a seed, NumPy's with one."""
    values = np.asarray(values, dtype=float)
    if seed is None:
        return np.asarray(laplace_measurement(scale)(values.tolist()), dtype=float)
    return values + np.random.default_rng(seed).laplace(0.0, scale, size=values.shape)


def dp_group_stats(
    frame: pd.DataFrame,
    by: str,
    value: str,
    bounds: tuple[float, float],
    epsilon: float,
    ledger: PrivacyLedger,
    name: str,
    seed: int | None = None,
) -> pd.DataFrame:
    """Noisy count, sum and mean of ``value`` per ``by`` group (one row per person), spending ``epsilon``.

    Half of ``epsilon`` goes to the counts, half to the clamped sums. Groups are the observed ones
    (releasing which groups exist is assumed public, e.g. the segment names).

    Returns
    -------
    pandas.DataFrame
        ``group, count, sum, mean`` (true values) and ``dp_count, dp_sum, dp_mean``.
    """
    require_columns(frame, [by, value], name, "dp_group_stats")
    lower, upper = bounds
    if lower > upper:
        raise ValueError(f"{name}: clamping bounds must satisfy lower <= upper (got {bounds})")
    clamped = frame[value].astype(float).clip(lower, upper)
    grouped = clamped.groupby(frame[by], observed=True)
    true = pd.DataFrame({"count": grouped.size().astype(float), "sum": grouped.sum()})
    half = epsilon / 2
    count_scale = scale_for(half, 1.0)
    sum_sensitivity = max(abs(lower), abs(upper))
    sum_scale = scale_for(half, sum_sensitivity)
    noise = "numpy (seeded, demonstration)" if seed is not None else "opendp (secure)"
    ledger.charge(f"{name}: counts", half, 1.0, count_scale, noise)
    ledger.charge(f"{name}: sums", half, sum_sensitivity, sum_scale, noise)
    seeds = (None, None) if seed is None else (seed, seed + 1)
    true["dp_count"] = laplace_noise(true["count"].to_numpy(), count_scale, seeds[0])
    true["dp_sum"] = laplace_noise(true["sum"].to_numpy(), sum_scale, seeds[1])
    true["mean"] = true["sum"] / true["count"]
    true["dp_mean"] = (true["dp_sum"] / true["dp_count"].clip(lower=1.0)).clip(lower, upper)
    return true.rename_axis("group").reset_index()


def utility_curve(
    frame: pd.DataFrame,
    by: str,
    value: str,
    bounds: tuple[float, float],
    epsilons: list[float],
    repeats: int = 50,
    seed: int = 0,
) -> pd.DataFrame:
    """Median relative error of the DP counts, sums and means per ε (seeded repeats; no budget is spent).

    Returns
    -------
    pandas.DataFrame
        ``epsilon, statistic, relative_error`` (median over groups and repeats).
    """
    rows = []
    for i, epsilon in enumerate(epsilons):
        errors: dict[str, list[np.ndarray]] = {"count": [], "sum": [], "mean": []}
        for r in range(repeats):
            stats = dp_group_stats(
                frame, by, value, bounds, epsilon, PrivacyLedger(epsilon), "utility", seed=seed + 1000 * i + 2 * r
            )
            for s in errors:
                errors[s].append(np.abs(stats[f"dp_{s}"] - stats[s]) / np.abs(stats[s]).clip(lower=1e-9))
        for s, errs in errors.items():
            rows.append({"epsilon": epsilon, "statistic": s, "relative_error": float(np.median(np.concatenate(errs)))})
    return pd.DataFrame(rows)


def bounded_cell_counts(
    con: object, events_sql: str, cells: list[str], max_cells_per_user: int, seed: int
) -> pd.DataFrame:
    """Distinct users per cell (e.g. category x day) with each user kept in at most ``max_cells_per_user`` cells.

    Contribution bounding in SQL (DuckDB here, the same SQL on Spark): a user counts once per cell,
    and a user present in more cells keeps a pseudo-random ``max_cells_per_user`` of them (ordered by a
    seeded hash, not by what they did), so adding or removing one person changes the counts by at most
    ``max_cells_per_user`` in L1 norm: the sensitivity the Laplace noise is calibrated to.

    Returns
    -------
    pandas.DataFrame
        The ``cells`` columns and ``users`` (true bounded counts), sorted by the cells.
    """
    keys = ", ".join(cells)
    sql = f"""
        WITH presence AS (SELECT DISTINCT user_id, {keys} FROM {events_sql}),
        ranked AS (
            SELECT *, row_number() OVER (
                PARTITION BY user_id ORDER BY hash(user_id || '|' || concat_ws('|', {keys}) || '|' || ?::VARCHAR)
            ) AS pick
            FROM presence
        )
        SELECT {keys}, count(*) AS users FROM ranked WHERE pick <= ? GROUP BY {keys} ORDER BY {keys}
    """
    return con.execute(sql, [str(seed), max_cells_per_user]).df()  # type: ignore[attr-defined]


def dp_cell_counts(
    counts: pd.DataFrame,
    max_cells_per_user: int,
    epsilon: float,
    ledger: PrivacyLedger,
    name: str,
    seed: int | None = None,
) -> pd.DataFrame:
    """Laplace noise on :func:`bounded_cell_counts` with L1 sensitivity ``max_cells_per_user``, charged to ``ledger``.

    Cells are those observed (their existence is treated as public, e.g. every category on every day of
    the period); noisy counts are rounded and floored at 0 (post-processing keeps the guarantee).
    """
    scale = scale_for(epsilon, float(max_cells_per_user))
    ledger.charge(
        name,
        epsilon,
        float(max_cells_per_user),
        scale,
        "numpy (seeded, demonstration)" if seed is not None else "opendp (secure)",
    )
    noisy = laplace_noise(counts["users"].to_numpy(dtype=float), scale, seed)
    return counts.assign(dp_users=np.maximum(np.round(noisy), 0).astype(np.int64))
