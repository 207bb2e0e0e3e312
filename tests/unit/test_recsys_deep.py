"""Deep recommenders (Mult-VAE, SASRec), EASE and the next-item protocol: hand-computed references, small fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from lsc_utils import recsys as rs
from lsc_utils.recsys import deep_seq, deep_vae
from lsc_utils.recsys import next_item as ni

jax = pytest.importorskip("jax")

# --------------------------------------------------------------------------------------------
# Small data
# --------------------------------------------------------------------------------------------


def _block_interactions(n_users: int = 40, n_items: int = 20, seed: int = 0) -> rs.Interactions:
    """Two user groups, each interacting with 6 random items of its own half of the catalogue."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        half = u % 2
        items = rng.choice(np.arange(half * n_items // 2, (half + 1) * n_items // 2), 6, replace=False)
        rows += [(f"u{u:03d}", f"i{i:03d}") for i in items]
    return rs.interactions_from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]))


def _planted_sequences(n_users: int = 150, seed: int = 0) -> pd.DataFrame:
    """Random items i02..i19, except that i00 (A) is always followed by i01 (B)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        sequence: list[int] = []
        while len(sequence) < 12:
            sequence.append(int(rng.integers(2, 20)))
            if rng.random() < 0.3:
                sequence += [0, 1]
        rows += [(f"u{u:03d}", f"i{item:02d}", p) for p, item in enumerate(sequence)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "position"])


SMALL_VAE = {
    "hidden_dims": (16, 4),
    "epochs": 15,
    "batch_size": 16,
    "learning_rate": 3e-2,
    "patience": None,
    "validation_fraction": 0.2,
}
SMALL_SASREC = {"hidden": 16, "n_blocks": 1, "max_len": 8, "epochs": 3, "batch_size": 32}


# --------------------------------------------------------------------------------------------
# Mult-VAE
# --------------------------------------------------------------------------------------------


def _numpy_mult_vae_loss(params: dict, x, beta, noise, keep, dropout, l2) -> float:
    """Negative ELBO of a batch written out in float64 numpy."""
    enc = [(np.asarray(p["w"], np.float64), np.asarray(p["b"], np.float64)) for p in params["encoder"]]
    dec = [(np.asarray(p["w"], np.float64), np.asarray(p["b"], np.float64)) for p in params["decoder"]]
    h = x / np.linalg.norm(x, axis=1, keepdims=True) * keep / (1 - dropout)
    for w, b in enc[:-1]:
        h = np.tanh(h @ w + b)
    out = h @ enc[-1][0] + enc[-1][1]
    latent = out.shape[1] // 2
    mu, logvar = out[:, :latent], out[:, latent:]
    z = mu + np.exp(logvar / 2) * noise
    for w, b in dec[:-1]:
        z = np.tanh(z @ w + b)
    logits = z @ dec[-1][0] + dec[-1][1]
    log_softmax = logits - logits.max(axis=1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(axis=1, keepdims=True))
    multinomial_log_likelihood = (x * log_softmax).sum(axis=1).mean()
    kl = (0.5 * (-logvar + np.exp(logvar) + mu**2 - 1)).sum(axis=1).mean()
    penalty = sum((w**2).sum() for w, _ in enc + dec)
    return -multinomial_log_likelihood + beta * kl + l2 * penalty


def test_mult_vae_loss_equals_hand_computed_multinomial_likelihood_plus_beta_kl() -> None:
    params = deep_vae.init_mult_vae(jax.random.key(3), n_items=6, hidden_dims=(5, 2))
    rng = np.random.default_rng(0)
    x = np.array([[1, 0, 2, 0, 0, 1], [0, 1, 0, 0, 3, 0], [1, 1, 1, 0, 0, 0]], dtype=np.float32)
    noise = rng.standard_normal((3, 2)).astype(np.float32)
    keep = (rng.random((3, 6)) < 0.7).astype(np.float32)
    keep[:, 0] = 1.0  # every row keeps an input
    loss, (nll, kl) = deep_vae.mult_vae_loss(params, x, 0.3, noise, keep, 0.5, 0.01)
    expected = _numpy_mult_vae_loss(params, x.astype(np.float64), 0.3, noise, keep, 0.5, 0.01)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    loss_no_kl, _ = deep_vae.mult_vae_loss(params, x, 0.0, noise, keep, 0.5, 0.0)
    np.testing.assert_allclose(float(loss_no_kl), float(nll), rtol=1e-6)
    assert float(kl) > 0


def test_hold_out_per_user_is_seeded_and_keeps_an_item_per_user() -> None:
    matrix = sp.csr_matrix(
        np.array([[1, 1, 1, 1, 1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 1], [1, 2, 0, 0, 0, 0, 0, 0, 0, 0]])
    )
    kept, held = deep_vae.hold_out_per_user(matrix, 0.4, np.random.default_rng(1))
    again_kept, _ = deep_vae.hold_out_per_user(matrix, 0.4, np.random.default_rng(1))
    assert (kept + held != matrix).nnz == 0 and kept.multiply(held).nnz == 0
    assert np.diff(held.indptr).tolist() == [2, 0, 1]  # round(0.4 * 5), a single item stays, round(0.8)
    assert (kept != again_kept).nnz == 0


def test_mult_vae_conventions_early_stopping_record_and_determinism() -> None:
    inter = _block_interactions()
    model = rs.MultVAERecommender(**SMALL_VAE, random_state=7)
    assert model.get_params()["hidden_dims"] == (16, 4) and model.get_params()["random_state"] == 7
    assert not hasattr(model, "params_")
    assert model.fit(inter) is model
    assert list(model.history_.columns) == ["epoch", "loss", "beta", "validation_ndcg"]
    assert len(model.history_) == 15 and model.best_epoch_ in set(model.history_["epoch"])
    first = model.recommend(k=3)
    again = clone(model).fit(inter).recommend(k=3)
    pd.testing.assert_frame_equal(first, again)  # same seed, same machine: bit-identical
    seen = set(map(tuple, inter.to_frame()[["user_id", "item_id"]].to_numpy()))
    assert not any((u, i) in seen for u, i in first[["user_id", "item_id"]].to_numpy())
    own_half = first["item_id"].str[1:].astype(int) // 10 == first["user_id"].str[1:].astype(int) % 2
    assert own_half.mean() > 0.8  # the two user groups get items of their own half


def test_mult_vae_rejects_bad_parameters_naming_them() -> None:
    inter = _block_interactions()
    with pytest.raises(ValueError, match="'dropout'"):
        rs.MultVAERecommender(dropout=1.0).fit(inter)
    with pytest.raises(ValueError, match="'hidden_dims'"):
        rs.MultVAERecommender(hidden_dims=()).fit(inter)


# --------------------------------------------------------------------------------------------
# EASE
# --------------------------------------------------------------------------------------------


def test_ease_weights_match_per_item_ridge_regressions() -> None:
    rng = np.random.default_rng(0)
    x = (rng.random((30, 6)) < 0.4).astype(np.float64)
    weights = rs.ease_item_weights(sp.csr_matrix(x), l2=2.0)
    for j in range(6):
        others = np.delete(np.arange(6), j)
        a = x[:, others]
        ridge = np.linalg.solve(a.T @ a + 2.0 * np.eye(5), a.T @ x[:, j])
        np.testing.assert_allclose(weights[others, j], ridge, rtol=1e-10, atol=1e-12)
    assert np.all(np.diag(weights) == 0)
    model = rs.EASERecommender(l2=2.0).fit(_block_interactions())
    assert model.recommend(k=3)["rank"].max() == 3


# --------------------------------------------------------------------------------------------
# Next-item protocol
# --------------------------------------------------------------------------------------------


def test_order_sequences_breaks_equal_times_by_a_seeded_random_order_not_by_id() -> None:
    frame = pd.DataFrame({"user_id": ["u"] * 6 + ["v"], "item_id": list("abcdef") + ["a"], "ts": [5, 1, 1, 1, 1, 1, 0]})
    orders = {seed: tuple(ni.order_sequences(frame, random_state=seed)["item_id"][:6]) for seed in range(6)}
    assert all(order[-1] == "a" for order in orders.values())  # the later time stays last
    assert len(set(orders.values())) > 1  # ties follow the seed
    assert orders[3] == tuple(ni.order_sequences(frame, random_state=3)["item_id"][:6])
    out = ni.order_sequences(frame, random_state=0)
    assert out["position"].tolist() == [0, 1, 2, 3, 4, 5, 0]


def test_leave_last_out_split_holds_out_last_and_second_to_last() -> None:
    seqs = pd.DataFrame(
        {"user_id": ["u"] * 4 + ["v"] * 2, "item_id": ["a", "b", "c", "d", "a", "b"], "position": [3, 0, 1, 2, 0, 1]}
    )
    split = ni.leave_last_out_split(seqs)
    assert split.test[["user_id", "item_id"]].values.tolist() == [["u", "a"]]
    assert split.validation[["user_id", "item_id"]].values.tolist() == [["u", "d"]]
    assert split.train["item_id"].tolist() == ["b", "c", "a", "b"]  # v is too short: all its rows train
    assert split.train_validation["item_id"].tolist() == ["b", "c", "d", "a", "b"]


def test_ranks_and_metrics_by_hand_and_consistent_with_top_k_lists() -> None:
    scores = np.array([[0.1, 0.5, 0.5, -np.inf], [3.0, 2.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    ranks = ni.rank_targets(scores, np.array([2, 3, -1]))
    assert ranks.tolist() == [2.0, 4.0, np.inf]  # tie with column 1 ranks after it
    assert ni.next_item_hit_rate_at_k(ranks, 2) == pytest.approx(1 / 3)
    assert ni.next_item_ndcg_at_k(ranks, 4) == pytest.approx((1 / np.log2(3) + 1 / np.log2(5)) / 3)
    seqs = _planted_sequences(60)
    split = ni.leave_last_out_split(seqs)
    model = ni.MatrixNextRecommender(rs.PopularityRecommender()).fit(split.train_validation)
    ranks = ni.next_item_ranks(model, split.test)
    lists = model.recommend_next(split.test["user_id"], k=5)
    assert ni.next_item_hit_rate_at_k(ranks, 5) == pytest.approx(rs.hit_rate_at_k(lists, split.test, 5))
    assert ni.next_item_ndcg_at_k(ranks, 5) == pytest.approx(rs.ndcg_at_k(lists, split.test, 5))


def test_matrix_wrapper_reuses_ease_and_repeat_last_ranks_recent_items_first() -> None:
    seqs = pd.DataFrame(
        {
            "user_id": ["u"] * 4 + ["v"] * 3,
            "item_id": ["a", "b", "a", "c", "b", "c", "d"],
            "position": [0, 1, 2, 3, 0, 1, 2],
        }
    )
    wrapped = ni.MatrixNextRecommender(rs.EASERecommender(l2=1.0)).fit(seqs)
    direct = rs.EASERecommender(l2=1.0).fit(wrapped.recommender_.interactions_)
    np.testing.assert_allclose(wrapped._score_histories([], np.array([0, 1])), direct._score_rows(np.array([0, 1])))
    repeat = ni.RepeatLastRecommender().fit(seqs)
    recs = repeat.recommend_next(["u"], k=4, exclude_history=False)
    assert recs["item_id"].tolist() == ["c", "a", "b", "d"]  # history by recency, then popularity
    given = repeat.recommend_next(k=1, exclude_history=False, histories={"new": ["d", "b"]})
    assert given["item_id"].tolist() == ["b"]
    with pytest.raises(ValueError, match="training users only"):
        wrapped.recommend_next(histories={"new": ["a"]})


# --------------------------------------------------------------------------------------------
# SASRec
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("training", [False, True])
def test_sasrec_causal_mask_no_position_sees_the_future(training: bool) -> None:
    params = deep_seq.init_sasrec(jax.random.key(0), n_items=12, hidden=16, n_blocks=2, max_len=8)
    inputs = np.array([[0, 0, 3, 5, 7, 2, 9, 4], [1, 2, 3, 4, 5, 6, 7, 8]], dtype=np.int32)
    perturbed = inputs.copy()
    perturbed[:, -1] = [11, 12]
    key = jax.random.key(1) if training else None
    before = np.asarray(deep_seq.sasrec_hidden(params, inputs, n_heads=2, dropout=0.2 if training else 0.0, key=key))
    after = np.asarray(deep_seq.sasrec_hidden(params, perturbed, n_heads=2, dropout=0.2 if training else 0.0, key=key))
    assert np.array_equal(before[:, :-1], after[:, :-1])  # bit-identical earlier positions
    assert not np.allclose(before[:, -1], after[:, -1])  # the perturbed position itself changes


def test_sasrec_learns_a_planted_sequential_rule() -> None:
    seqs = _planted_sequences()
    model = rs.SASRecRecommender(
        hidden=32, n_blocks=1, max_len=10, epochs=25, batch_size=64, learning_rate=5e-3, patience=None
    ).fit(seqs)
    rng = np.random.default_rng(1)
    histories = {f"h{j}": [f"i{i:02d}" for i in rng.integers(2, 20, j % 6 + 1)] + ["i00"] for j in range(40)}
    top = model.recommend_next(k=1, exclude_history=False, histories=histories)
    assert (top["item_id"] == "i01").mean() > 0.9  # HR@1 of A -> B


def test_sasrec_conventions_history_and_determinism() -> None:
    seqs = _planted_sequences(60)
    model = rs.SASRecRecommender(**SMALL_SASREC, random_state=3)
    assert model.get_params()["max_len"] == 8 and model.get_params()["random_state"] == 3
    assert not hasattr(model, "params_")
    assert model.fit(seqs) is model
    assert list(model.history_.columns) == ["epoch", "loss", "validation_hit_rate", "validation_ndcg"]
    assert model.best_epoch_ in set(model.history_["epoch"])
    first = model.recommend_next(k=5)
    pd.testing.assert_frame_equal(first, clone(model).fit(seqs).recommend_next(k=5))
    history = {u: set(g) for u, g in seqs.groupby("user_id")["item_id"]}
    assert not any(i in history[u] for u, i in first[["user_id", "item_id"]].to_numpy())
    with pytest.raises(ValueError, match="'n_heads'"):
        rs.SASRecRecommender(hidden=16, n_heads=3).fit(seqs)


def test_collapse_repeats_merges_consecutive_rows_of_one_item_only() -> None:
    frame = pd.DataFrame(
        {"user_id": ["u"] * 5 + ["v"], "item_id": ["a", "a", "b", "a", "a", "a"], "position": range(6)}
    )
    out = rs.collapse_repeats(frame)
    assert out["item_id"].tolist() == ["a", "b", "a", "a"] and out["user_id"].tolist() == ["u", "u", "u", "v"]
    assert out["position"].tolist() == [0, 1, 2, 0]


def test_popularity_of_the_hour_ranks_by_the_window_then_by_all_rows() -> None:
    at = pd.Timestamp("2026-01-01 10:00", tz="UTC")
    history = pd.DataFrame(
        {
            "item_id": ["a"] * 5 + ["b", "b", "c", "d"],
            "ts": [at - pd.Timedelta(hours=10)] * 5
            + [at - pd.Timedelta(minutes=30), at - pd.Timedelta(minutes=10), at - pd.Timedelta(hours=2), at],
        }
    )
    targets = pd.DataFrame({"item_id": ["b", "a", "c", "d", "z"], "ts": [at] * 5})
    # b: 2 rows in the hour before; then by all rows: a (5), then c and d (1 each, c first by id); d's row at
    # the target's own time is not before it; z was never seen
    assert rs.recent_popularity_ranks(history, targets).tolist() == [1.0, 2.0, 3.0, 4.0, np.inf]
    rng = np.random.default_rng(0)
    history = pd.DataFrame({"item_id": rng.integers(0, 40, 3000), "ts": rng.uniform(0, 10, 3000)})
    targets = pd.DataFrame({"item_id": rng.integers(0, 40, 200), "ts": rng.uniform(0, 10, 200)})
    ranks = rs.recent_popularity_ranks(history, targets, window_days=0.5, block=64)
    items = np.sort(history["item_id"].unique())
    overall = history["item_id"].value_counts().reindex(items).to_numpy()
    for rank, (item, ts) in zip(ranks, targets.itertuples(index=False), strict=True):  # brute force, one target
        inside = history[(history["ts"] >= ts - 0.5) & (history["ts"] < ts)]
        score = inside["item_id"].value_counts().reindex(items, fill_value=0).to_numpy() + overall / (overall.max() + 1)
        assert rank == ni.rank_targets(score[None, :], np.searchsorted(items, [item]))[0]


def test_sasrec_learns_a_rule_planted_in_the_simulators_sessions(tmp_path) -> None:
    """Item B follows every A in simulated shoppers' item sequences: SASRec puts B first after A (HR@1 > 0.9)."""
    from lsc_utils.simulate import simulate

    data = simulate(tmp_path / "sim", n_users=300, n_days=14, seed=5, dirty=False, progress=False)
    events = pd.read_parquet(data / "events.parquet", columns=["user_id", "item_id", "ts", "event_type"])
    rows = events[events["event_type"].isin(["view_item", "add_to_cart", "pay"]) & events["item_id"].notna()]
    rows = rows.assign(ts=pd.to_datetime(rows["ts"], utc=True, format="ISO8601"))  # raw log: text times
    seqs = rs.collapse_repeats(rs.order_sequences(rows, random_state=0))
    counts = seqs["item_id"].value_counts()
    a, b = counts.index[0], counts.index[1]  # the two most frequent items: A, and B planted after each A
    seqs = seqs[seqs["item_id"] != b]
    after_a = seqs[seqs["item_id"] == a].assign(item_id=b, position=lambda t: t["position"] + 0.5)
    planted = pd.concat([seqs, after_a]).sort_values(["user_id", "position"], kind="stable")
    planted = planted.assign(position=planted.groupby("user_id").cumcount())
    model = rs.SASRecRecommender(hidden=32, n_blocks=1, max_len=20, epochs=15, patience=None, random_state=0)
    model.fit(planted[["user_id", "item_id", "position"]])
    ends_in_a = {
        f"h{j}": [*seqs.loc[seqs["user_id"] == user, "item_id"].head(4), a]
        for j, user in enumerate(seqs["user_id"].unique()[:100])
    }
    top = model.recommend_next(k=1, exclude_history=False, histories=ends_in_a)
    assert (top["item_id"] == b).mean() > 0.9, (a, b, (top["item_id"] == b).mean())


_FIT_AND_HASH = """
import hashlib, sys
import numpy as np, pandas as pd
from lsc_utils import recsys as rs
rng = np.random.default_rng(0)
rows = [(f"u{u}", f"i{rng.integers(0, 60)}", p) for u in range(80) for p in range(int(rng.integers(4, 16)))]
model = rs.SASRecRecommender(hidden=16, n_blocks=1, max_len=8, epochs=2, random_state=0)
model.fit(pd.DataFrame(rows, columns=["user_id", "item_id", "position"]))
import jax
leaves = jax.tree_util.tree_leaves(model.params_)
print(hashlib.sha256(b"".join(np.ascontiguousarray(v).tobytes() for v in leaves)).hexdigest())
"""


def test_deep_models_give_the_same_weights_on_one_core_and_on_all() -> None:
    """XLA sizes its thread pool by the usable cores; the package starts it with one, so weights match anywhere."""
    import os
    import shutil
    import subprocess
    import sys

    from tests.conftest import REPO

    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) < 2 or shutil.which("taskset") is None:
        pytest.skip("needs two usable cores and taskset")
    env = {k: v for k, v in os.environ.items() if k != "LSC_JAX_ALL_CORES"}

    def fit(*prefix: str) -> str:
        done = subprocess.run(
            [*prefix, sys.executable, "-c", _FIT_AND_HASH], cwd=REPO, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    assert fit("taskset", "-c", str(cores[0])) == fit()


def test_popularity_of_the_hour_never_counts_another_items_rows() -> None:
    """Targets long before or after every history row see an empty window, not a neighbouring item's rows."""
    history = pd.DataFrame({"item_id": ["a", "b", "b"], "ts": [5.0, 5.0, 5.2]})
    targets = pd.DataFrame({"item_id": ["a", "a", "a", "a"], "ts": [0.0, 5.1, 8.5, 30.0]})
    # at 5.1 with a 1-day window: a 1 row, b 1 row -> tie, broken by all rows (b 2): a second; at 8.5 and
    # later nobody chose anything in the window (keys packed without the targets' times put b's rows there)
    assert rs.recent_popularity_ranks(history, targets, window_days=1.0).tolist() == [2.0, 2.0, 2.0, 2.0]
    targets = pd.DataFrame({"item_id": ["a"], "ts": [5.25]})  # b 2 rows in the window, a 1
    assert rs.recent_popularity_ranks(history, targets, window_days=1.0).tolist() == [2.0]


def test_compare_tuned_tunes_on_validation_then_fits_each_seed() -> None:
    rng = np.random.default_rng(3)
    pairs = pd.DataFrame({"user_id": rng.integers(0, 120, 3000), "item_id": rng.integers(0, 40, 3000)})
    pairs = pairs.drop_duplicates().assign(user_id=lambda t: "u" + t["user_id"].astype(str))
    test = pairs.sample(frac=0.2, random_state=0)
    train = rs.interactions_from_frame(pairs.drop(test.index))
    als = rs.Candidate(
        "als", "reg", [0.1, 10.0], lambda v, s: rs.ALSRecommender(4, v, iterations=3, random_state=s), [1, 2]
    )
    ease = rs.Candidate("ease", "λ", [1.0, 100.0], lambda v, s: rs.EASERecommender(l2=v), [0])
    out = rs.compare_tuned([ease, als], train, test, 5, baselines={"popularity": rs.PopularityRecommender()})
    assert out.table["model"].tolist() == ["popularity", "ease", "als"]
    assert out.table["seeds"].tolist() == [1, 1, 2] and [len(m) for m in out.fitted.values()] == [1, 1, 2]
    for name, part in out.tuning.groupby("model"):
        best = part.loc[part["validation_ndcg"].idxmax()]
        assert out.table.set_index("model").loc[name, "tuned"] == f"{best['parameter']} = {best['value']:g}"
        _, alone = rs.tune_on_validation(
            lambda v, c={"ease": ease, "als": als}[name]: c.make(v, 42), part["value"].tolist(), train, 5
        )
        assert alone["validation_ndcg"].tolist() == part["validation_ndcg"].tolist()
    assert len(out.runs) == 4 and set(out.runs["model"]) == {"popularity", "ease", "als"}
