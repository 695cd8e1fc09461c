"""BG/NBD and Gamma-Gamma customer-lifetime-value models on SciPy.

Pure functions on numpy arrays; nothing here knows about Django (the data
comes from ``analytics.clv_data``).

* BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"):
  while alive a customer buys as a Poisson process with rate lambda ~
  Gamma(r, alpha); after each purchase they drop out with probability p ~
  Beta(a, b). Per customer: ``frequency`` x (repeat purchases), ``recency``
  t_x (time of the last purchase since the first) and ``T`` (time from the
  first purchase to the end of observation).
* Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value
  curves"; Fader & Hardie's note on the Gamma-Gamma spend model): the mean
  amount of a customer's repeat purchases, with spend ~ Gamma(p, nu) and
  nu ~ Gamma(q, gamma).

Time is in whatever unit the arrays use (the program uses days); the fitted
``alpha`` is in that unit, the other parameters are unit-free. Fits maximise
the closed-form log-likelihood over log-parameters with L-BFGS-B (Nelder-Mead
when it does not converge), on the distinct data rows with their counts as
weights, so 100,000 members with integer days fit in well under a second.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import optimize, special


class BgNbdParams(NamedTuple):
    r: float
    alpha: float
    a: float
    b: float


class GammaGammaParams(NamedTuple):
    p: float
    q: float
    gamma: float


def _as_float(*arrays) -> list[np.ndarray]:
    return [np.asarray(array, dtype=float) for array in arrays]


def _distinct_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct rows of ``columns`` and how often each occurs."""
    stacked = np.column_stack(columns)
    rows, counts = np.unique(stacked, axis=0, return_counts=True)
    return [rows[:, i] for i in range(rows.shape[1])], counts.astype(float)


def _minimise(objective, start: np.ndarray) -> np.ndarray:
    """The minimiser of ``objective`` over log-parameters, starting at ``start``."""
    result = optimize.minimize(objective, start, method="L-BFGS-B")
    if not result.success or not np.all(np.isfinite(result.x)):
        fallback = optimize.minimize(
            objective, result.x if np.all(np.isfinite(result.x)) else start,
            method="Nelder-Mead", options={"maxiter": 20_000, "xatol": 1e-10, "fatol": 1e-12},
        )
        if fallback.fun <= result.fun or not np.isfinite(result.fun):
            result = fallback
    return result.x


# --- BG/NBD ---------------------------------------------------------------

def bgnbd_log_likelihood(params: BgNbdParams, frequency, recency, T) -> np.ndarray:
    """Each customer's log-likelihood under BG/NBD (FHL 2005, equation 6)."""
    r, alpha, a, b = params
    x, t_x, T = _as_float(frequency, recency, T)
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - special.betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    # The second term exists only for customers with a repeat purchase.
    a4 = np.where(
        repeat,
        np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return a1 + a2 + np.logaddexp(a3, a4)


def bgnbd_fit(frequency, recency, T) -> BgNbdParams:
    """BG/NBD parameters (r, alpha, a, b) by maximum likelihood.

    ``frequency`` is the number of repeat purchases, ``recency`` the time of
    the last purchase since the first (0 without a repeat purchase), ``T`` the
    time from the first purchase to the end of observation.
    """
    x, t_x, T = _as_float(frequency, recency, T)
    if x.size == 0:
        raise ValueError("BG/NBD needs at least one customer")
    (x, t_x, T), weights = _distinct_rows(x, t_x, T)
    total = weights.sum()

    def objective(log_params: np.ndarray) -> float:
        # The optimiser probes extreme parameters (overflow, log 0): those give a
        # non-finite likelihood, which is read as "as bad as it gets", so no warning.
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            params = BgNbdParams(*np.exp(log_params))
            value = -np.dot(weights, bgnbd_log_likelihood(params, x, t_x, T)) / total
        return value if np.isfinite(value) else 1e300

    # Start with r = 1 and a purchase rate r / alpha near the observed one.
    rate = max(np.dot(weights, x) / max(np.dot(weights, T), 1e-9), 1e-6)
    start = np.log([1.0, 1.0 / rate, 1.0, 1.0])
    return BgNbdParams(*(float(value) for value in np.exp(_minimise(objective, start))))


def bgnbd_probability_alive(params: BgNbdParams, frequency, recency, T) -> np.ndarray:
    """P(alive at T | x, t_x, T) (FHL 2005, equation 11); 1 without a repeat purchase."""
    r, alpha, a, b = params
    x, t_x, T = _as_float(frequency, recency, T)
    repeat = x > 0
    log_ratio = (
        np.log(a) - np.log(np.where(repeat, b + x - 1, 1.0))
        + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    )
    return np.where(repeat, 1.0 / (1.0 + np.exp(log_ratio)), 1.0)


def bgnbd_expected_purchases(params: BgNbdParams, t, frequency, recency, T) -> np.ndarray:
    """E[purchases in the next ``t`` | x, t_x, T] (FHL 2005, equation 10)."""
    r, alpha, a, b = params
    if abs(a - 1) < 1e-9:  # a removable singularity (0 / 0): step beside it
        a = 1 + 1e-9
    x, t_x, T = _as_float(frequency, recency, T)
    t = float(t)
    repeat = x > 0
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    head = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    odds = np.where(
        repeat,
        a / np.where(repeat, b + x - 1, 1.0) * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + t_x))),
        0.0,
    )
    return head / (1 + odds)


# --- Gamma-Gamma ----------------------------------------------------------

def gamma_gamma_log_likelihood(params: GammaGammaParams, frequency, monetary) -> np.ndarray:
    """Each customer's log-likelihood of the mean amount ``monetary`` of ``frequency`` repeat purchases."""
    p, q, gamma = params
    x, z = _as_float(frequency, monetary)
    px = p * x
    return (
        special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q)
        + q * np.log(gamma) + (px - 1) * np.log(z) + px * np.log(x)
        - (px + q) * np.log(gamma + x * z)
    )


def gamma_gamma_fit(frequency, monetary) -> GammaGammaParams:
    """Gamma-Gamma parameters (p, q, gamma) by maximum likelihood on the
    customers with at least one repeat purchase and a positive mean amount."""
    x, z = _as_float(frequency, monetary)
    keep = (x >= 1) & (z > 0)
    if not keep.any():
        raise ValueError("Gamma-Gamma needs a customer with a repeat purchase")
    (x, z), weights = _distinct_rows(x[keep], z[keep])
    total = weights.sum()

    def objective(log_params: np.ndarray) -> float:
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # as for BG/NBD
            params = GammaGammaParams(*np.exp(log_params))
            value = -np.dot(weights, gamma_gamma_log_likelihood(params, x, z)) / total
        return value if np.isfinite(value) else 1e300

    # Start with p = 1, q = 2 and gamma putting the population mean at the observed mean.
    mean = np.dot(weights, z) / total
    start = np.log([1.0, 2.0, mean])
    return GammaGammaParams(*(float(value) for value in np.exp(_minimise(objective, start))))


def gamma_gamma_expected_amount(params: GammaGammaParams, frequency, monetary) -> np.ndarray:
    """E[amount per purchase | x, mean amount]; the population mean p*gamma/(q-1) for x = 0.

    (Infinite population mean when q <= 1.)
    """
    p, q, gamma = params
    x, z = _as_float(frequency, monetary)
    population = p * gamma / (q - 1) if q > 1 else np.inf
    repeat = x > 0
    conditional = p * (gamma + x * np.where(repeat, z, 0.0)) / (p * x + q - 1)
    return np.where(repeat, conditional, population)
