"""Writes norse_lsnn_io.npz with Norse itself (Norse 1.1.0): a recurrent LSNN population (the
adaptive-threshold neuron of Bellec et al. 2018) stepped by Norse's own
``norse.torch.functional.lsnn.lsnn_step`` on a seeded input, with the weights and parameters
it ran with. NIR has no node for an adaptive threshold, so there is no graph file: the test
(tests/engine/test_adaptive.py) builds eventsim's graph from these arrays by the Norse reading in
the README. Needs torch and norse (not eventsim dependencies):

    python tests/data/make_norse_lsnn.py     # from the repository root

Keys: x (T, n_in) 0/1 input; w_in (n, n_in), w_rec (n, n) (zero diagonal); dt, tau_syn_inv,
tau_mem_inv, tau_adapt_inv, v_leak, v_th, v_reset, beta (scalars); z, v, i, b (T, n): Norse's
spikes and state after each step (``b`` the absolute threshold, starting at ``v_th`` as
``LSNNRecurrentCell`` starts it). Computed in float64 (``torch.float64`` tensors), so the spikes
compare with eventsim's float64 without float32 rounding in between.
"""
from pathlib import Path

import norse
import numpy as np
import torch
from norse.torch.functional.lsnn import LSNNParameters, LSNNState, lsnn_step

HERE = Path(__file__).parent


def main() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    T, n_in, n, dt = 120, 6, 10, 1e-3
    x = (rng.random((T, n_in)) < 0.25).astype(np.float64)
    w_in = rng.normal(0.6, 0.5, (n, n_in))
    w_rec = rng.normal(0.0, 0.4, (n, n))
    np.fill_diagonal(w_rec, 0.0)
    p = LSNNParameters(tau_syn_inv=torch.tensor(1 / 5e-3, dtype=torch.float64),
                       tau_mem_inv=torch.tensor(1 / 1e-2, dtype=torch.float64),
                       tau_adapt_inv=torch.tensor(1 / 50e-3, dtype=torch.float64),
                       v_leak=torch.tensor(0.0, dtype=torch.float64),
                       v_th=torch.tensor(1.0, dtype=torch.float64),
                       v_reset=torch.tensor(-0.1, dtype=torch.float64),
                       beta=torch.tensor(0.5, dtype=torch.float64))
    zeros = torch.zeros(1, n, dtype=torch.float64)
    state = LSNNState(z=zeros, v=zeros.clone(), i=zeros.clone(), b=p.v_th * torch.ones_like(zeros))
    out = {k: [] for k in "zvib"}
    for t in range(T):
        _, state = lsnn_step(torch.tensor(x[t:t + 1]), state, torch.tensor(w_in),
                             torch.tensor(w_rec), p, dt)
        for k in "zvib":
            out[k].append(getattr(state, k)[0].numpy().copy())
    arrays = {k: np.array(v) for k, v in out.items()}
    print(f"norse {norse.__version__}: {int(arrays['z'].sum())} spikes of {n} neurons in {T} "
          f"steps, threshold b up to {arrays['b'].max():.3f}")
    np.savez_compressed(HERE / "norse_lsnn_io.npz", x=x, w_in=w_in, w_rec=w_rec, dt=dt,
                        **{f: float(getattr(p, f)) for f in ("tau_syn_inv", "tau_mem_inv",
                                                             "tau_adapt_inv", "v_leak", "v_th",
                                                             "v_reset", "beta")},
                        **arrays)


if __name__ == "__main__":
    main()
