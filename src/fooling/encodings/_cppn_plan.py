"""The batched CPPN render's plan: which value-table row each node of a population
computes, from which rows, in what order. Compiled with numba: it walks every node and
edge of the population once: 0.06 ms for 200 genomes late in a lenet-mnist run when
the same batch is planned again and again, 0.12 ms for a new batch each time, and ~0.17
ms inside the run, where the classifier's forward pass has just filled the caches; the
same work as ~60 numpy calls over the whole batch took 0.46 ms.

See :func:`fooling.encodings.cppn._plan` for the table it describes.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_HASH = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True)
def _activation(act, pre, cap):  # type: ignore[no-untyped-def]
    """A constant node's value: activation ``act`` of a pre-activation whose weights carry
    the activation's fold factor, as :func:`fooling.encodings.cppn._activate_into` computes
    it over the pixels (``cap`` bounds the Gaussian's ``x^2``)."""
    if act == 0:
        return math.sin(pre)
    if act == 1:
        return math.tanh(pre)
    if act == 2:
        return math.exp(-min(pre * pre, cap))
    return min(max(pre, -1.0), 1.0)


@njit(cache=True)
def _insert(key, col, val, p, m, k, c, w):  # type: ignore[no-untyped-def]
    """Insert entry ``(c, w)`` with sort key ``k`` among the ``m`` entries at ``p``, after
    those of equal key (an insertion sort, stable)."""
    j = p + m
    while j > p and key[j - 1] > k:
        key[j], col[j], val[j] = key[j - 1], col[j - 1], val[j - 1]
        j -= 1
    key[j], col[j], val[j] = k, c, w


@njit(cache=True)
def plan_arrays(  # type: ignore[no-untyped-def]
    node_offsets, acts, edge_offsets, src, dst, gene,
    outputs, n_inputs, fold, weight_range, cap, like,
):  # fmt: skip
    """Plan a population (the arrays of a ``CPPNBatch``, ``fold`` the per-activation
    factor folded into a node's in-edge weights, ``cap`` the Gaussian's bound on ``x^2``,
    ``like`` an array of the weights' dtype).

    The inputs are x, y, d and last the bias. A node fed by the bias and by constant nodes
    only is constant: its value is computed here, in float64, and its consumers add it
    into their bias weight, so it takes no row unless it is an output. The table's rows
    are the ``n_inputs`` inputs, then one row per distinct live node, in (depth,
    activation, genome, node) order of the node that first needs it, where a node's depth
    counts only the non-constant nodes above it. A node is live if it has a path to an
    output of its genome; it is the same as another if both have the same activation and
    the same in-edges (source row and weight, in order), so siblings bred from one
    champion compute their shared parts once. A node's in-edges are ordered by their
    sources' (depth, activation, node) and then edge order, the bias with the constants
    folded in after x, y, d: an order its own genome fixes, so a genome renders to the
    same bits alone or in any batch.

    Returns ``(rows, ints, val, level_nnz, counts)``: the table's row count; per depth,
    the source rows of its entries (its rows' in-edges, row after row) and its rows' bag
    offsets from 0 (one more than its rows), then every genome's output rows, genome by
    genome, all in ``ints``; the entries' weights ``val`` (computed in float64, returned
    in ``like``'s dtype); each depth's entry count; and
    ``counts[d, a]``, the rows of depth ``d + 1`` with activation ``a``. Raises
    ``ValueError`` on a cycle.
    """
    n = len(node_offsets) - 1
    n_nodes = node_offsets[n]
    n_edges = len(src)
    na = len(fold)
    bias = n_inputs - 1

    # Flat node ids; a source is its input id or n_inputs + its flat id.
    target = np.empty(n_edges, np.int64)
    source = np.empty(n_edges, np.int64)
    weight = np.empty(n_edges, np.float64)
    for i in range(n):
        base = node_offsets[i] - n_inputs
        for e in range(edge_offsets[i], edge_offsets[i + 1]):
            target[e] = base + dst[e]
            source[e] = src[e] if src[e] < n_inputs else n_inputs + base + src[e]
            weight[e] = (2.0 * weight_range * gene[e] - weight_range) * fold[acts[target[e]]]

    # Each node's in-edges (in edge order) and its hidden successors.
    in_start = np.zeros(n_nodes + 1, np.int64)
    out_start = np.zeros(n_nodes + 1, np.int64)
    for e in range(n_edges):
        in_start[target[e] + 1] += 1
        if source[e] >= n_inputs:
            out_start[source[e] - n_inputs + 1] += 1
    for v in range(n_nodes):
        in_start[v + 1] += in_start[v]
        out_start[v + 1] += out_start[v]
    in_edge = np.empty(n_edges, np.int64)
    successor = np.empty(out_start[n_nodes], np.int64)
    fill_in = in_start[:-1].copy()
    fill_out = out_start[:-1].copy()
    waiting = np.zeros(n_nodes, np.int64)  # hidden in-edges not yet settled
    varies = np.zeros(n_nodes, np.bool_)  # not constant: fed by x, y, d or such a node
    for e in range(n_edges):
        t = target[e]
        in_edge[fill_in[t]] = e
        fill_in[t] += 1
        if source[e] >= n_inputs:
            u = source[e] - n_inputs
            successor[fill_out[u]] = t
            fill_out[u] += 1
            waiting[t] += 1
        elif source[e] != bias:
            varies[t] = True

    # In a topological order (Kahn's algorithm): the constant nodes' values, and the
    # longest path of non-constant nodes to each node, its depth.
    const = np.zeros(n_nodes, np.float64)
    depth = np.ones(n_nodes, np.int64)
    order = np.empty(n_nodes, np.int64)
    tail = 0
    for v in range(n_nodes):
        if waiting[v] == 0:
            order[tail] = v
            tail += 1
    head = 0
    while head < tail:
        u = order[head]
        head += 1
        if not varies[u]:
            pre = 0.0
            for k in range(in_start[u], in_start[u + 1]):
                e = in_edge[k]
                s = source[e]
                pre += weight[e] * (1.0 if s == bias else const[s - n_inputs])
            const[u] = _activation(acts[u], pre, cap)
        for k in range(out_start[u], out_start[u + 1]):
            v = successor[k]
            if varies[u]:
                varies[v] = True
                depth[v] = max(depth[v], depth[u] + 1)
            waiting[v] -= 1
            if waiting[v] == 0:
                order[tail] = v
                tail += 1
    if tail < n_nodes:
        raise ValueError("a genome has a cycle")

    # Live nodes: the outputs and, walking the order backwards, whatever non-constant
    # node feeds a live node.
    live = np.zeros(n_nodes, np.bool_)
    for i in range(n):
        live[node_offsets[i] : node_offsets[i] + outputs] = True
    for k in range(n_nodes - 1, -1, -1):
        u = order[k]
        if varies[u]:
            for j in range(out_start[u], out_start[u + 1]):
                live[u] = live[u] or live[successor[j]]
    levels = 1
    for v in range(n_nodes):
        if live[v]:
            levels = max(levels, depth[v])

    # Live nodes in (depth, activation, flat id) order: a counting sort.
    bucket = np.zeros(levels * na + 1, np.int64)
    for v in range(n_nodes):
        if live[v]:
            bucket[(depth[v] - 1) * na + acts[v] + 1] += 1
    for b in range(levels * na):
        bucket[b + 1] += bucket[b]
    n_live = bucket[levels * na]
    by_rank = np.empty(n_live, np.int64)
    rank = np.empty(n_nodes, np.int64)
    for v in range(n_nodes):
        if live[v]:
            b = (depth[v] - 1) * na + acts[v]
            by_rank[bucket[b]] = v
            rank[v] = bucket[b]
            bucket[b] += 1

    # Rows, node by node in that order: a node's in-edges are written after the last
    # row's; if an equal row exists (found in a hash table), they are dropped again.
    col = np.empty(n_edges, np.int64)
    val = np.empty(n_edges, np.float64)
    # Weights are never -0.0: w = 20 g - 10 is +0.0 at g = 0.5, and a bias weight is a sum
    # from +0.0.
    bits = val.view(np.uint64)
    row_end = np.empty(n_live, np.int64)  # each row's last entry + 1
    row_act = np.empty(n_live, np.int64)
    row_depth = np.empty(n_live, np.int64)
    size = 16
    while size < 2 * n_live:
        size *= 2
    table = np.full(size, -1, np.int64)
    row = np.empty(n_nodes, np.int64)  # each live node's row, from 0 after the inputs
    counts = np.zeros((levels, na), np.int64)
    level_nnz = np.zeros(levels, np.int64)
    key = np.empty(n_edges, np.int64)  # the in-edges' sort keys
    rows = 0
    p = 0
    for r in range(n_live):
        v = by_rank[r]
        m = 0
        folded = False
        w_bias = 0.0  # the bias weight plus each constant source's weight times its value
        for k in range(in_start[v], in_start[v + 1]):
            e = in_edge[k]
            s = source[e]
            if s == bias:
                folded = True
                w_bias += weight[e]
            elif s >= n_inputs and not varies[s - n_inputs]:
                folded = True
                w_bias += weight[e] * const[s - n_inputs]
            elif s < n_inputs:
                _insert(key, col, val, p, m, s, s, weight[e])
                m += 1
            else:
                u = s - n_inputs
                _insert(key, col, val, p, m, n_inputs + rank[u], n_inputs + row[u], weight[e])
                m += 1
        if folded:
            _insert(key, col, val, p, m, bias, bias, w_bias)
            m += 1
        h = np.uint64(acts[v] + 1)
        for j in range(p, p + m):
            h = (h ^ np.uint64(col[j])) * _HASH
            h = (h ^ bits[j]) * _HASH
        slot = np.int64(h >> np.uint64(32)) & (size - 1)
        while True:
            u = table[slot]
            if u < 0:  # a new row
                table[slot] = rows
                row[v] = rows
                row_act[rows], row_depth[rows] = acts[v], depth[v]
                counts[depth[v] - 1, acts[v]] += 1
                level_nnz[depth[v] - 1] += m
                p += m
                row_end[rows] = p
                rows += 1
                break
            lo = row_end[u - 1] if u > 0 else 0
            if row_act[u] == acts[v] and row_end[u] - lo == m:
                same = True
                for j in range(m):
                    if col[lo + j] != col[p + j] or val[lo + j] != val[p + j]:
                        same = False
                        break
                if same:
                    row[v] = u
                    break
            slot = (slot + 1) & (size - 1)

    # The integers, depth by depth: its entries' source rows, then its rows' bag offsets
    # from 0 (one more than its rows); then each genome's output rows.
    ints = np.empty(p + rows + levels + n * outputs, np.int64)
    q = 0
    u = 0
    for d in range(levels):
        lo = row_end[u - 1] if u > 0 else 0
        ints[q : q + level_nnz[d]] = col[lo : lo + level_nnz[d]]
        q += level_nnz[d]
        ints[q] = 0
        q += 1
        while u < rows and row_depth[u] == d + 1:
            ints[q] = row_end[u] - lo
            q += 1
            u += 1
    for i in range(n):
        for o in range(outputs):
            ints[q] = n_inputs + row[node_offsets[i] + o]
            q += 1
    weights = np.empty(p, like.dtype)
    weights[:] = val[:p]
    return n_inputs + rows, ints, weights, level_nnz, counts
