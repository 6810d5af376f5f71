"""Micro-benchmark of ways to read a delayed network's history (issue 23, "what was tried").

Run alone (about 20 s a configuration on a loaded 2-core machine)::

    python benchmarks/micro_delays.py [--steps 2002] [--repeats 7] [--float32] [--node hopf|jr]
                                      [--mode round|interpolate] [--unroll 1,4] [--only A,B]

One Euler rollout of ``--steps`` steps at 0.1 ms of the 94-region HCP network (Hopf, k = 100 /s,
or Jansen-Rit) with delays from the tract lengths at 10 m/s, its delayed input read by each
variant below, beside the undelayed step; the variants' calls interleaved round by round (best
and median of ``--repeats``), each with every ``lax.scan`` ``unroll`` of ``--unroll``. Every
variant is first checked against eegfit's own rollout (a line is printed where it differs by
more than float rounding). Microseconds per step are printed with the load average. Nothing is
asserted; the results are in benchmarks/README.md, "bench_delays.py: what was tried".

Step by step (one read a step): ``current`` (eegfit's: flat gather ``promise_in_bounds``,
barrier, ``einsum``), ``sorted_unique`` (the gather told ``unique_indices``), ``take_clip`` and
``take_wrap`` (``jnp.take``; ``wrap`` its own modulo), ``mulsum`` (multiply and sum, not
``einsum``), ``row_sorted`` (each target's reads ascending in memory), ``nnz_segment_sum`` and
``nnz_scatter_add`` (the weighted connections only, summed by ``segment_sum`` or
``zeros().at[].add``), ``node_time`` (history ``[node, time]``), ``scatter_forward`` (``round``
only: no gather; each step scatters ``W_ij c_j`` into a ring of future inputs at its arrival
step). In blocks of ``Network.delay_block`` steps (7 here): ``block_current`` (eegfit's),
``block_kij_stacked`` (eegfit's before: gathered ``(K, i, j)``, both parts in one stacked
contraction), ``block_ikj`` (gathered ``(i, K, j)``, two contractions), ``block_ikj_stacked``,
``block_two`` (``(K, i, j)``, two contractions), ``block_mulsum``, ``block_node_time``
(``[node, time]``, a block's K reads adjacent), ``block_kernel`` (the hand-written C++ read,
:mod:`eegfit.models.delay_kernel`, its ``[node, time]`` history padded; where it builds).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

DT_MS = 0.1


def build(args):
    import jax
    import jax.numpy as jnp

    from eegfit.data.connectome import load
    from eegfit.models import JansenRit, StuartLandau
    from eegfit.models.network import coupled

    conn = load("hcp", n_nodes=94)
    dtype = jnp.float32 if args.float32 else jnp.float64
    node, k = {"hopf": (StuartLandau(), 100.0), "jr": (JansenRit(), 1.0)}[args.node]
    node = jax.tree.map(dtype, node)

    def model(mode, speed_max=None):
        lengths = None if mode is None else conn.lengths_mm
        kwargs = {} if mode is None else {"delay_mode": mode, "speed_max_m_s": speed_max}
        return coupled(node, conn.weights, k=k, lengths_mm=lengths, speed_m_s=10.0, **kwargs)
    n = conn.n_nodes
    y0 = jnp.asarray(model(None).initial_state if args.node == "jr" else
                     np.array([[0.3], [-0.2]]) * np.linspace(0.5, 1.5, n), dtype)
    drive_model = model(None)
    drive = drive_model.drive.per_step(jax.random.PRNGKey(0), args.steps, DT_MS)
    if np.ndim(drive) == 0:
        drive = jnp.zeros((args.steps,), dtype)
    return model, y0, drive, dtype, n


def readers(net, h, dtype, n):
    """``{name: (prepare(plan) -> aux, read(buffer, now, plan, aux) -> (now_part, next_part))}``
    for one step; ``buffer`` is ``(h, n)`` ([time, node]) except where a variant says."""
    import jax
    import jax.numpy as jnp

    def wrap(index, size):
        return jnp.where(index >= size, index - size, index)

    def finish(plan, delayed, weights_now=None, weights_next=None, spec="ij,ij->i"):
        wn = plan.now_weights if weights_now is None else weights_now
        wx = plan.next_weights if weights_next is None else weights_next
        if wx is None:
            return jnp.einsum(spec, wn, delayed), None
        return jnp.einsum(spec, wn, delayed), jnp.einsum(spec, wx, delayed)

    def current(buffer, now, plan, aux):
        return net.delayed_received(buffer, now, plan)

    def flags(**kw):
        def read(buffer, now, plan, aux):
            index = wrap(plan.flat + now * n, buffer.size)
            delayed = jax.lax.optimization_barrier(
                buffer.reshape(-1).at[index].get(**kw))
            return finish(plan, delayed)
        return read

    def take(mode):
        def read(buffer, now, plan, aux):
            index = plan.flat + now * n  # "wrap": jnp.take's own modulo
            index = index if mode == "wrap" else wrap(index, buffer.size)
            return finish(plan, jax.lax.optimization_barrier(
                jnp.take(buffer.reshape(-1), index, mode=mode)))
        return read

    def mulsum(buffer, now, plan, aux):
        index = wrap(plan.flat + now * n, buffer.size)
        delayed = jax.lax.optimization_barrier(
            buffer.reshape(-1).at[index].get(mode="promise_in_bounds"))
        nxt = None if plan.next_weights is None else (plan.next_weights * delayed).sum(1)
        return (plan.now_weights * delayed).sum(1), nxt

    def row_sorted_prep(plan):  # each target's reads ascending in memory (at now = 0)
        order = jnp.argsort(plan.flat, axis=1)
        take_ = lambda a: None if a is None else jnp.take_along_axis(a, order, axis=1)
        return take_(plan.flat), take_(plan.now_weights), take_(plan.next_weights)

    def row_sorted(buffer, now, plan, aux):
        flat, wn, wx = aux
        index = wrap(flat + now * n, buffer.size)
        delayed = jax.lax.optimization_barrier(
            buffer.reshape(-1).at[index].get(mode="promise_in_bounds"))
        return finish(plan, delayed, wn, wx)

    def nnz_prep(plan):  # off-diagonal entries with a weight, row-major (targets sorted)
        w = np.asarray(net.weights)
        i, j = np.nonzero(w * (1 - np.eye(n)))
        pick = lambda a: None if a is None else a[i, j]
        return (jnp.asarray(i, jnp.int32), pick(plan.flat), pick(plan.now_weights),
                pick(plan.next_weights))

    def nnz_segment(buffer, now, plan, aux):
        target, flat, wn, wx = aux
        index = wrap(flat + now * n, buffer.size)
        delayed = jax.lax.optimization_barrier(
            buffer.reshape(-1).at[index].get(mode="promise_in_bounds"))
        seg = lambda w: jax.ops.segment_sum(w * delayed, target, num_segments=n,
                                            indices_are_sorted=True)
        return seg(wn), None if wx is None else seg(wx)

    def nnz_scatter(buffer, now, plan, aux):
        target, flat, wn, wx = aux
        index = wrap(flat + now * n, buffer.size)
        delayed = jax.lax.optimization_barrier(
            buffer.reshape(-1).at[index].get(mode="promise_in_bounds"))
        add = lambda w: jnp.zeros(n, delayed.dtype).at[target].add(
            w * delayed, indices_are_sorted=True, mode="promise_in_bounds")
        return add(wn), None if wx is None else add(wx)

    def node_time(buffer, now, plan, aux):  # buffer [node, time]: index j * h + row
        col = jnp.arange(n, dtype=jnp.int32)[None, :]
        rows = wrap(plan.rows + now, h)
        delayed = jax.lax.optimization_barrier(
            buffer.reshape(-1).at[col * h + rows].get(mode="promise_in_bounds"))
        return finish(plan, delayed)

    ahead = None

    def block_current(buffer, now, plan, aux, K):
        return net.delayed_received(buffer, now, plan, K)

    def block_node_time(buffer, now, plan, aux, K):  # [node, time]: a block's K reads adjacent
        m = jnp.arange(K, dtype=jnp.int32)
        rows = plan.rows[..., None] + now + m  # (n, n, K)
        rows = wrap(rows, h)
        col = jnp.arange(n, dtype=jnp.int32)[None, :, None]
        delayed = jax.lax.optimization_barrier(
            buffer.reshape(-1).at[col * h + rows].get(mode="promise_in_bounds"))
        if plan.next_weights is None:
            return jnp.einsum("ij,ijk->ki", plan.now_weights, delayed), None
        parts = jnp.einsum("sij,ijk->ski", jnp.stack([plan.now_weights, plan.next_weights]),
                           delayed)
        return parts[0], parts[1]

    def block_mulsum(buffer, now, plan, aux, K):
        m = jnp.arange(K, dtype=jnp.int32)[:, None, None]
        index = wrap(plan.flat + (now + m) * n, buffer.size)
        delayed = jax.lax.optimization_barrier(
            buffer.reshape(-1).at[index].get(mode="promise_in_bounds"))
        nxt = None if plan.next_weights is None else (plan.next_weights * delayed).sum(-1)
        return (plan.now_weights * delayed).sum(-1), nxt

    def block_two(buffer, now, plan, aux, K):  # two contractions, not one stacked
        m = jnp.arange(K, dtype=jnp.int32)[:, None, None]
        index = wrap(plan.flat + (now + m) * n, buffer.size)
        delayed = jax.lax.optimization_barrier(
            buffer.reshape(-1).at[index].get(mode="promise_in_bounds"))
        return finish(plan, delayed, spec="ij,kij->ki")

    def block_ikj(buffer, now, plan, aux, K):  # gathered target-major: (i, k, j)
        m = jnp.arange(K, dtype=jnp.int32)[None, :, None]
        index = wrap(plan.flat[:, None, :] + (now + m) * n, buffer.size)
        delayed = jax.lax.optimization_barrier(
            buffer.reshape(-1).at[index].get(mode="promise_in_bounds"))
        if plan.next_weights is None:
            return jnp.einsum("ij,ikj->ki", plan.now_weights, delayed), None
        return (jnp.einsum("ij,ikj->ki", plan.now_weights, delayed),
                jnp.einsum("ij,ikj->ki", plan.next_weights, delayed))

    def block_ikj_stacked(buffer, now, plan, aux, K):
        m = jnp.arange(K, dtype=jnp.int32)[None, :, None]
        index = wrap(plan.flat[:, None, :] + (now + m) * n, buffer.size)
        delayed = jax.lax.optimization_barrier(
            buffer.reshape(-1).at[index].get(mode="promise_in_bounds"))
        if plan.next_weights is None:
            return jnp.einsum("ij,ikj->ki", plan.now_weights, delayed), None
        w = jnp.stack([plan.now_weights, plan.next_weights], axis=1)  # (i, s, j)
        parts = jnp.einsum("isj,ikj->ski", w, delayed)
        return parts[0], parts[1]

    def block_kij_stacked(buffer, now, plan, aux, K):  # eegfit's blocked read before (K, i, j)
        m = jnp.arange(K, dtype=jnp.int32)[:, None, None]
        index = wrap(plan.flat + (now + m) * n, buffer.size)
        delayed = jax.lax.optimization_barrier(
            buffer.reshape(-1).at[index].get(mode="promise_in_bounds"))
        if plan.next_weights is None:
            return jnp.einsum("ij,kij->ki", plan.now_weights, delayed), None
        parts = jnp.einsum("sij,kij->ski", jnp.stack([plan.now_weights, plan.next_weights]),
                           delayed)
        return parts[0], parts[1]

    return {
        "block_kij_stacked": (None, block_kij_stacked),
        "block_ikj": (None, block_ikj),
        "block_ikj_stacked": (None, block_ikj_stacked),
        "block_current": (None, block_current),
        "block_two": (None, block_two),
        "block_node_time": (None, block_node_time),
        "block_mulsum": (None, block_mulsum),
        "current": (None, current),
        "sorted_unique": (None, flags(mode="promise_in_bounds", indices_are_sorted=False,
                                      unique_indices=True)),
        "take_clip": (None, take("clip")),
        "take_wrap": (None, take("wrap")),
        "mulsum": (None, mulsum),
        "row_sorted": (row_sorted_prep, row_sorted),
        "nnz_segment_sum": (nnz_prep, nnz_segment),
        "nnz_scatter_add": (nnz_prep, nnz_scatter),
        "node_time": (None, node_time),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2002)  # whole blocks of 7
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--float32", action="store_true")
    parser.add_argument("--node", default="hopf", choices=("hopf", "jr"))
    parser.add_argument("--mode", default="round", choices=("round", "interpolate"))
    parser.add_argument("--only", default=None, help="comma-separated variants")
    parser.add_argument("--unroll", default="1", help="comma-separated scan unrolls")
    args = parser.parse_args()

    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from eegfit.models import delay_kernel
    from eegfit.integrators import scheme as _scheme

    model, y0, drive, dtype, n = build(args)
    net = model(args.mode)
    h = net.history_length(DT_MS)
    plan = net.delay_plan(h, DT_MS, dtype)
    cases = {}

    def undelayed(unroll):
        plain = model(None)
        step = _scheme(plain.vector_field, "euler", DT_MS * 1e-3)

        @jax.jit
        def run(y, ps):
            return jax.lax.scan(lambda y, p: (step(y, p), plain.observe(y)), y, ps,
                                unroll=unroll)[1]
        return run

    def delayed(prepare, read, unroll, layout="tn"):
        @jax.jit
        def run(y, ps):
            aux = prepare(plan) if prepare else None
            sent = net.coupling_variable(y)
            buffer = jnp.broadcast_to(sent, (h, n))
            if layout == "nt":
                buffer = buffer.T
            pending = read(buffer, jnp.int32(0), plan, aux)[1]
            pending = jnp.zeros_like(sent) if pending is None else pending

            def step(state, p):
                y, buffer, now, pending = state
                received, nxt = read(buffer, now, plan, aux)
                if nxt is not None:
                    received, pending = received + pending, nxt
                y = _scheme(lambda y, p: net.delayed_vector_field(y, p, received), "euler",
                            DT_MS * 1e-3)(y, p)
                now = (now + 1) % h
                c = net.coupling_variable(y)
                buffer = (jax.lax.dynamic_update_index_in_dim(buffer, c, now, 0) if
                          layout == "tn" else
                          jax.lax.dynamic_update_index_in_dim(buffer, c, now, 1))
                return (y, buffer, now, pending), net.observe(y)
            return jax.lax.scan(step, (y, buffer, jnp.int32(0), pending), ps,
                                unroll=unroll)[1]
        return run

    def blocked(prepare, read, unroll, K, layout="tn"):
        @jax.jit
        def run(y, ps):
            aux = prepare(plan) if prepare else None
            sent = net.coupling_variable(y)
            buffer = jnp.broadcast_to(sent, (h, n))
            if layout == "nt":
                buffer = buffer.T
            if layout == "kernel":  # [node, time], its first `pad` columns mirrored after it
                buffer = jnp.broadcast_to(sent[:, None], (n, h + pad))
            pending = net.delayed_received(jnp.broadcast_to(sent, (h, n)), jnp.int32(0), plan)[1]
            pending = jnp.zeros_like(sent) if pending is None else pending

            def one(carry, x):
                y, buffer, now = carry
                p, received = x
                y = _scheme(lambda y, p: net.delayed_vector_field(y, p, received), "euler",
                            DT_MS * 1e-3)(y, p)
                now = (now + 1) % h
                c = net.coupling_variable(y)
                buffer = (jax.lax.dynamic_update_index_in_dim(buffer, c, now, 0) if
                          layout == "tn" else
                          jax.lax.dynamic_update_index_in_dim(buffer, c, now, 1))
                if layout == "kernel":
                    buffer = jax.lax.dynamic_update_index_in_dim(
                        buffer, c, jnp.where(now < pad, now + h, now), 1)
                return (y, buffer, now), net.observe(y)

            def advance(state, ps):
                y, buffer, now, pending = state
                inputs, nxt = read(buffer, now, plan, aux, K)
                if nxt is not None:
                    inputs = inputs + jnp.concatenate([pending[None], nxt[:-1]])
                    pending = nxt[-1]
                (y, buffer, now), obs = jax.lax.scan(one, (y, buffer, now), (ps, inputs),
                                                     unroll=unroll)
                return (y, buffer, now, pending), obs
            ps = ps.reshape((-1, K) + ps.shape[1:])
            out = jax.lax.scan(advance, (y, buffer, jnp.int32(0), pending), ps)[1]
            return out.reshape((-1,) + out.shape[2:])
        return run

    def scatter_forward(prepare, read, unroll):
        """round only: each step adds W_ij c_j(t_n) to a ring of future inputs at row n + d_ij
        (a scatter-add of n^2 values) and reads this step's row (no gather)."""
        back = h - plan.rows  # steps back, rows = h - back
        base = (back * n + jnp.arange(n, dtype=jnp.int32)[:, None]).reshape(-1)

        @jax.jit
        def run(y, ps):
            sent = net.coupling_variable(y)
            future = jnp.zeros((h, n), sent.dtype)
            # the constant history before t = 0: rows 0 .. d - 1 get W_ij c_j(0) for d_ij > m
            m = jnp.arange(h)[:, None, None]
            future = future + jnp.einsum("mij,j->mi", (back[None] > m) * plan.now_weights,
                                         sent)
            future = future.reshape(-1).at[base].add(
                (plan.now_weights * sent[None, :]).reshape(-1)).reshape(h, n)

            def step(state, p):
                y, future, now = state
                received = jax.lax.dynamic_index_in_dim(future, now, 0, keepdims=False)
                future = jax.lax.dynamic_update_index_in_dim(future, jnp.zeros_like(received),
                                                             now, 0)
                y = _scheme(lambda y, p: net.delayed_vector_field(y, p, received), "euler",
                            DT_MS * 1e-3)(y, p)
                now = (now + 1) % h
                index = base + now * n
                index = jnp.where(index >= future.size, index - future.size, index)
                c = net.coupling_variable(y)
                future = future.reshape(-1).at[index].add(
                    (plan.now_weights * c[None, :]).reshape(-1),
                    mode="promise_in_bounds").reshape(h, n)
                return (y, future, now), net.observe(y)
            return jax.lax.scan(step, (y, future, jnp.int32(0)), ps, unroll=unroll)[1]
        return run

    variants = readers(net, h, dtype, n)
    K = model(args.mode, 10.0).delay_block(DT_MS)
    pad = delay_kernel.pad(K)
    if delay_kernel.use_kernel((n, h), K):  # the C++ kernel (EEGFIT_DELAY_KERNEL=ffi's read)
        variants["block_kernel"] = (None, lambda buffer, now, plan, aux, K:
                                    delay_kernel.kernel_read(buffer, now, plan, K, h))
    if args.mode == "round":
        variants["scatter_forward"] = (None, None)
    only = None if args.only is None else args.only.split(",")
    for unroll in (int(u) for u in args.unroll.split(",")):
        cases[f"undelayed/u{unroll}"] = undelayed(unroll)
        for name, (prepare, read) in variants.items():
            if only and name not in only:
                continue
            layout = "nt" if "node_time" in name else "kernel" if "kernel" in name else "tn"
            cases[f"{name}/u{unroll}"] = scatter_forward(None, None, unroll) if \
                name == "scatter_forward" else (blocked(prepare, read, unroll, K, layout)
                                          if name.startswith("block") else
                                          delayed(prepare, read, unroll, layout))

    from eegfit.simulate import simulate
    reference = np.asarray(simulate(net, dt_ms=DT_MS, duration_ms=args.steps * DT_MS,
                                    y0=y0).observable)
    for name, fn in cases.items():
        got = np.asarray(fn(y0, drive))
        if not name.startswith("undelayed"):
            err = np.max(np.abs(got - reference)) / np.max(np.abs(reference))
            tol = 1e-3 if args.float32 else 1e-9
            if not err < tol:
                print(f"{name}: differs from eegfit's rollout by {err:.2e} (relative)")
    load_before = os.getloadavg()
    times = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, fn in cases.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(y0, drive))
            times[name].append(time.perf_counter() - start)
    print(f"{args.node} n=94 {args.mode} {'float32' if args.float32 else 'float64'} "
          f"{args.steps} steps; load {load_before} -> {os.getloadavg()}")
    base = min(times[next(iter(cases))])
    for name, t in times.items():
        us = 1e6 * np.array(t) / args.steps
        print(f"  {name:24s} best {us.min():6.2f} us/step  median {np.median(us):6.2f}  "
              f"x undelayed {min(t) / base:5.2f}")


if __name__ == "__main__":
    main()
