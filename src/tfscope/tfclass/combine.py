"""Combiners and calibration of the knn-kmer family models (:mod:`tfscope.tfclass.knn_kmer`): the log-linear pool
of two models (:func:`pool_log_proba`), their soft vote (:func:`soft_vote_log_proba`), temperature scaling
(:func:`fit_temperature`), the abstain threshold (:func:`confidence_threshold`), EM prior adaptation
(:func:`adapt_priors`) and the class-shared conditional logit (:func:`fit_conditional_logit`). Plain numpy/scipy
functions of log-probability arrays ``(N, C)``.
"""

from __future__ import annotations

import numpy as np

from .model import EXPERT_LOG_FLOOR

POOL_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
POOL_WEIGHTS_FULL = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def pool_log_proba(log_p_stack: np.ndarray, log_p_kmer: np.ndarray, weight: float, temperature: float = 1.0
                   ) -> np.ndarray:
    """Log-linear opinion pool of two models' log probabilities ``(N, C)``: ``log_softmax(((1 - w) a + w b) / T)``
    (``T`` = ``temperature``, 1 = no calibration)."""
    z = ((1.0 - weight) * log_p_stack + weight * log_p_kmer) / temperature
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def soft_vote_log_proba(log_p_a: np.ndarray, log_p_b: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """Soft vote (linear opinion pool) of two models' log probabilities ``(N, C)``: ``log((1 - w) p_a + w p_b)``
    (``w`` = ``weight`` in [0, 1]; 0.5 = the mean of the two probability matrices). Unlike
    :func:`pool_log_proba` no model can veto a class: a class keeps at least ``(1 - w) p_a`` (resp. ``w p_b``).
    Rows of probabilities that sum to 1 give rows that sum to 1. Raises ValueError for a weight outside [0, 1]."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"soft-vote weight must be in [0, 1], got {weight}")
    with np.errstate(divide="ignore"):  # w = 0 or 1: log 0 = -inf drops that model
        return np.logaddexp(np.log1p(-weight) + np.asarray(log_p_a), np.log(weight) + np.asarray(log_p_b))


def fit_temperature(log_p: np.ndarray, y: np.ndarray) -> float:
    """Temperature ``T`` in [0.05, 20] minimising the negative log-likelihood of ``log_softmax(log_p / T)`` for
    labels ``y`` (temperature scaling, Guo et al. 2017), by ``scipy.optimize.minimize_scalar`` on ``log T``."""
    from scipy.optimize import minimize_scalar

    y = np.asarray(y)

    def nll(lt):
        z = log_p / np.exp(lt)
        z = z - z.max(1, keepdims=True)
        return float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1))).mean())

    return float(np.exp(minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded").x))


def confidence_threshold(confidence: np.ndarray, correct: np.ndarray, precision: float = 0.9) -> float:
    """Smallest confidence ``t`` (one of the observed values) such that the predictions with confidence >= ``t``
    are correct in at least ``precision`` of cases (1.0 if no threshold reaches it). From out-of-fold predictions:
    ``confidence`` ``(N,)`` the top class probability, ``correct`` ``(N,)`` bool."""
    order = np.argsort(-np.asarray(confidence), kind="stable")
    c = np.asarray(confidence)[order]
    ok = np.cumsum(np.asarray(correct)[order]) / np.arange(1, len(c) + 1)
    good = np.flatnonzero(ok >= precision)
    return float(c[good[-1]]) if len(good) else 1.0


def adapt_priors(proba: np.ndarray, train_prior: np.ndarray, *, max_iter: int = 100, tol: float = 1e-6
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Adjust posteriors ``(N, C)`` to the class mix of a batch of queries by EM (Saerens, Latinne & Decaestecker
    2002, *Neural Computation* 14:21-41): re-estimate the test priors as the mean posterior and re-weight each
    posterior by new / training prior until the priors settle. Returns (adjusted posteriors, estimated priors)."""
    p0 = np.clip(np.asarray(train_prior, dtype=np.float64), 1e-12, None)
    pr = p0.copy()
    post = np.asarray(proba, dtype=np.float64)
    for _ in range(max_iter):
        w = post * (pr / p0)[None, :]
        w /= w.sum(1, keepdims=True)
        new = w.mean(0)
        done = np.abs(new - pr).max() < tol
        pr = new
        if done:
            break
    w = post * (pr / p0)[None, :]
    return w / w.sum(1, keepdims=True), pr


def clogit_objective(theta: np.ndarray, F: np.ndarray, E: np.ndarray, y: np.ndarray, lam: float
                     ) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood + ``lam * |theta|^2`` of :func:`fit_conditional_logit`'s model and its
    gradient; ``theta`` = (beta ``(M * top)``, gamma ``(n_experts)``, alpha ``(C)``) concatenated."""
    n, M, C, T = F.shape
    nb, ne = M * T, len(E)
    rows = np.arange(n)
    b, g, a = theta[:nb].reshape(M, T), theta[nb:nb + ne], theta[nb + ne:]
    U = np.einsum("nmct,mt->nc", F, b) + np.einsum("e,enc->nc", g, E) + a
    U = U - U.max(1, keepdims=True)
    Z = np.exp(U).sum(1)
    R = np.exp(U) / Z[:, None]
    R[rows, y] -= 1.0
    R /= n  # d(mean NLL) / dU
    grad = np.concatenate([np.einsum("nc,nmct->mt", R, F).ravel(), np.einsum("nc,enc->e", R, E), R.sum(0)])
    return float(-(U[rows, y] - np.log(Z)).mean() + lam * theta @ theta), grad + 2.0 * lam * theta


def fit_conditional_logit(F: np.ndarray, experts: np.ndarray, y: np.ndarray, *, lam: float = 0.01
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Conditional logit (McFadden 1974) over classes with *class-shared* coefficients.

    Utility of class c for motif n: ``U[n, c] = sum_{m,r} beta[m, r] F[n, m, c, r] + sum_e gamma[e] E[e, n, c]
    + alpha[c]``, ``p = softmax_c(U)``. ``F`` ``(N, M, C, top)`` are per-class nearest-neighbour features
    (:func:`tfscope.tfclass.stack.class_neighbour_features` reshaped: metric, class, rank), ``experts`` ``(n_experts, N, C)`` other
    models' log probabilities (clipped at :data:`tfscope.tfclass.model.EXPERT_LOG_FLOOR`), ``y`` ``(N,)`` labels. Unlike a multinomial
    logistic regression on the same features (one coefficient per feature *and class*), the similarity of class c
    only speaks for class c, with one weight per metric and rank for all classes: 8 + n_experts + C parameters
    instead of thousands, which is what carries over to TFs and classes mixes not seen in training. Fitted by
    L-BFGS (scipy) on the mean negative log-likelihood plus ``lam`` times the squared L2 norm of all parameters.
    Own code: scikit-learn and statsmodels have no multinomial conditional logit with alternative-specific
    features. Returns (beta ``(M, top)``, gamma ``(n_experts,)``, alpha ``(C,)``). Raises ValueError for
    inconsistent shapes.
    """
    from scipy.optimize import minimize

    F = np.asarray(F, dtype=np.float64)
    E = np.maximum(np.asarray(experts, dtype=np.float64), EXPERT_LOG_FLOOR)
    y = np.asarray(y)
    n, M, C, T = F.shape
    if E.ndim != 3 or E.shape[1:] != (n, C) or len(y) != n:
        raise ValueError(f"features {F.shape}, experts {E.shape} and labels {y.shape} do not match")
    nb, ne = M * T, len(E)
    theta = minimize(clogit_objective, np.zeros(nb + ne + C), args=(F, E, y, lam), jac=True, method="L-BFGS-B").x
    return theta[:nb].reshape(M, T), theta[nb:nb + ne], theta[nb + ne:]


def conditional_logit_log_proba(F: np.ndarray, experts: np.ndarray, beta: np.ndarray, gamma: np.ndarray,
                                alpha: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Log class probabilities ``(N, C)`` of :func:`fit_conditional_logit`'s model, ``log_softmax(U / T)``."""

    E = np.maximum(np.asarray(experts, dtype=np.float64), EXPERT_LOG_FLOOR)
    U = (np.einsum("nmct,mt->nc", np.asarray(F, dtype=np.float64), beta) + np.einsum("e,enc->nc", gamma, E)
         + alpha) / temperature
    U = U - U.max(1, keepdims=True)
    return U - np.log(np.exp(U).sum(1, keepdims=True))
