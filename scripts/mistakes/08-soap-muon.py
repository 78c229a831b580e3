"""Simulated students for 08-soap-muon (soap_muon.ipynb)."""

from course_grading.diagnose import Edit, Variant

ASSIGNMENT = "08-soap-muon"

VARIANTS = [
    Variant("soap-v-unrotated", (Edit("soap_adam_step", "(1 - beta2) * rotated * rotated",
                                      "(1 - beta2) * grad * grad"),),
            why="second moment of the raw gradient G instead of the rotated G'",
            says='a second moment of the unrotated gradient',
            look='SOAP runs Adam in the eigenbasis: V averages the squares of the rotated gradient',
            section='sec-soap-update'),
    Variant("soap-not-rotated-back", (Edit("soap_adam_step",
                                           "direction = QL @ ((QL.T @ state[\"M\"] @ QR) / (state[\"V\"].sqrt() + eps)) @ QR.T",
                                           "direction = (QL.T @ state[\"M\"] @ QR) / (state[\"V\"].sqrt() + eps)"),),
            why="forgets to rotate Adam's direction back to the original coordinates",
            says='a SOAP step left in the eigenbasis',
            look="Adam's direction is rotated back to the original coordinates before the step",
            section='sec-soap-update'),
    Variant("soap-rotation-transposed", (Edit("soap_adam_step", "rotated = QL.T @ grad @ QR",
                                              "rotated = QL @ grad @ QR.T"),),
            why="rotates the gradient with Q L G Q_R^T instead of Q_L^T G Q_R",
            says='a rotation with the bases transposed',
            look='the gradient enters the eigenbasis with Q_L transposed on the left and Q_R on the right',
            section='sec-soap-update'),
    Variant("soap-adam-eps-placement", (Edit("soap_adam_step", None,
                                             "def soap_adam_step(param, grad, state, QL, QR, lr=3e-3, betas=(0.95, 0.95),"
                                             " eps=1e-8, weight_decay=0.01):\n"
                                             "    b1, b2 = betas\n"
                                             "    t = state.get('step', 0) + 1\n"
                                             "    M = b1 * state.get('M', torch.zeros_like(param)) + (1 - b1) * grad\n"
                                             "    V = b2 * state.get('V', torch.zeros_like(param)) + (1 - b2) * (QL.T @ grad @ QR) ** 2\n"
                                             "    state.update(step=t, M=M, V=V)\n"
                                             "    m_hat = QL.T @ M @ QR / (1 - b1 ** t)\n"
                                             "    v_hat = V / (1 - b2 ** t)\n"
                                             "    direction = QL @ (m_hat / (v_hat.sqrt() + eps)) @ QR.T\n"
                                             "    return (param - lr * direction) * (1 - lr * weight_decay)\n"),),
            why="Adam's m_hat / (sqrt(v_hat) + eps): eps added to the corrected root, not to sqrt(V)",
            says="Adam's eps placement inside SOAP",
            look="the assignment's SOAP adds eps to the root of V before the bias correction, not to the corrected root",
            section='sec-soap-update'),
    Variant("soap-decay-before-step", (Edit("soap_adam_step",
                                            "return (param - step_size * direction) * (1 - lr * weight_decay)",
                                            "return param * (1 - lr * weight_decay) - step_size * direction"),),
            why="decay applied to the old weights before the step instead of after it",
            says='a decay applied before the step',
            look="SOAP's decay shrinks the weights after the step",
            section='sec-soap-update'),
    Variant("soap-m-rotated-stale", (Edit("soap_adam_step", None,
                                          "def soap_adam_step(param, grad, state, QL, QR, lr=3e-3, betas=(0.95, 0.95),"
                                          " eps=1e-8, weight_decay=0.01):\n"
                                          "    b1, b2 = betas\n"
                                          "    if not state:\n"
                                          "        state.update(step=0, M=torch.zeros_like(param), V=torch.zeros_like(param))\n"
                                          "    state['step'] += 1\n"
                                          "    t = state['step']\n"
                                          "    g = QL.T @ grad @ QR\n"
                                          "    # M kept in the rotated basis: not rotated again when the basis changes\n"
                                          "    state['M'] = b1 * state['M'] + (1 - b1) * g\n"
                                          "    state['V'] = b2 * state['V'] + (1 - b2) * g * g\n"
                                          "    n = QL @ (state['M'] / (state['V'].sqrt() + eps)) @ QR.T\n"
                                          "    size = lr * (1 - b2 ** t) ** 0.5 / (1 - b1 ** t)\n"
                                          "    return (param - size * n) * (1 - lr * weight_decay)\n"),),
            why="keeps M in the rotated basis and never re-rotates it when the basis is refreshed",
            says='a first moment kept in a stale basis',
            look='M lives in the original coordinates and is rotated with the current basis at each step',
            section='sec-soap-update'),
    Variant("refresh-v-not-reordered", (Edit("soap_refresh", "V[order_L][:, order_R]", "V.clone()"),),
            why="sorts the basis but leaves V in the old order: its entries no longer follow their eigenvectors",
            says='a refresh that sorts the basis but not V',
            look="when the eigenvectors are reordered, V's entries must follow them",
            section='sec-soap-update'),
    Variant("refresh-ascending", (Edit("soap_refresh", "torch.argsort(estimates, descending=True)",
                                       "torch.argsort(estimates)"),),
            why="sorts the eigenvalue estimates in increasing order",
            says='a refresh sorted in increasing order',
            look='the eigenvalue estimates are sorted in decreasing order',
            section='sec-soap-update'),
    Variant("refresh-qr-of-statistic", (Edit("soap_refresh", "q, _ = torch.linalg.qr(power[:, order])",
                                             "q, _ = torch.linalg.qr(P[:, order])"),),
            why="QR of the statistic P instead of one power-iteration step P Q",
            says='a refresh that takes the QR of the statistic itself',
            look='the refresh is one power-iteration step: the QR of the statistic times the current basis',
            section='sec-soap-update'),
    Variant("ns-spectral-normalised-by-max", (Edit("newton_schulz", "X = X / max(X.norm().item(), eps)",
                                                   "X = X / max(X.abs().max().item(), eps)"),),
            why="normalises by the largest entry instead of the Frobenius norm",
            says='a Newton-Schulz start normalised by the largest entry',
            look='the input is divided by its Frobenius norm so that every singular value is at most 1',
            section='sec-newton-schulz'),
    Variant("ns-one-step-short", (Edit("newton_schulz", "for _ in range(steps):", "for _ in range(steps - 1):"),),
            why="one Newton-Schulz step too few",
            says='one Newton-Schulz step too few',
            look='count the iterations: exactly `steps` of them',
            section='sec-newton-schulz'),
    Variant("ns-coefficients-reversed", (Edit("newton_schulz", "a, b, c = coefficients", "c, b, a = coefficients"),),
            why="reads the coefficients in the wrong order",
            says='Newton-Schulz coefficients read in the wrong order',
            look='the coefficients (a, b, c) multiply X, (X X^T) X and (X X^T)^2 X in that order',
            section='sec-newton-schulz'),
    Variant("muon-no-nesterov", (Edit("muon_step", "(1 - momentum) * grad + momentum * buf if nesterov else buf",
                                      "buf"),),
            why="ignores nesterov=True: orthogonalises M_t itself",
            says='Muon without Nesterov momentum',
            look='with nesterov=True the matrix that is orthogonalised interpolates the gradient and the new momentum',
            section='sec-muon'),
    Variant("muon-shape-factor-inverted", (Edit("muon_step", "max(1.0, rows / cols)", "max(1.0, cols / rows)"),),
            why="sqrt(max(1, n/m)) instead of sqrt(max(1, m/n))",
            says="Muon's shape factor inverted",
            look='the scale is the root of max(1, rows / columns)',
            section='sec-muon-lr-scale'),
    Variant("muon-decay-after-step", (Edit("muon_step",
                                           "return (1 - lr * weight_decay) * param - lr * scale * ortho, buf",
                                           "return (1 - lr * weight_decay) * (param - lr * scale * ortho), buf"),),
            why="shrinks the updated weights instead of the old ones",
            says='a decay applied to the updated weights',
            look="Muon's decay shrinks the weights before this step's update",
            section='sec-muon'),
    Variant("alt-einsum-sorted-untransposed", (
        Edit("soap_adam_step", None,
             "def soap_adam_step(param, grad, state, QL, QR, lr=3e-3, betas=(0.95, 0.95), eps=1e-8, weight_decay=0.01):\n"
             "    b1, b2 = betas\n"
             "    state.setdefault('step', 0)\n"
             "    state.setdefault('M', torch.zeros_like(param))\n"
             "    state.setdefault('V', torch.zeros_like(param))\n"
             "    state['step'] += 1\n"
             "    t = state['step']\n"
             "    rot = lambda X: torch.einsum('ia,ij,jb->ab', QL, X, QR)\n"
             "    back = lambda X: torch.einsum('ia,ab,jb->ij', QL, X, QR)\n"
             "    state['M'].lerp_(grad, 1 - b1)\n"
             "    state['V'].lerp_(rot(grad) ** 2, 1 - b2)\n"
             "    n = back(rot(state['M']) / (torch.sqrt(state['V']) + eps))\n"
             "    param.sub_(n, alpha=lr * (1 - b2 ** t) ** 0.5 / (1 - b1 ** t))\n"
             "    param.mul_(1 - lr * weight_decay)\n"
             "    return param\n"),
        Edit("soap_refresh", None,
             "def soap_refresh(L, R, QL, QR, V):\n"
             "    out = []\n"
             "    for P, Q in ((L, QL), (R, QR)):\n"
             "        PQ = P @ Q\n"
             "        lam = [float(Q[:, j] @ PQ[:, j]) for j in range(Q.shape[1])]\n"
             "        order = sorted(range(len(lam)), key=lambda j: -lam[j])\n"
             "        # Gram-Schmidt (classical, twice) instead of torch.linalg.qr: columns may differ in sign\n"
             "        A = PQ[:, order]\n"
             "        cols = []\n"
             "        for j in range(A.shape[1]):\n"
             "            v = A[:, j].clone()\n"
             "            for _ in range(2):\n"
             "                for q in cols:\n"
             "                    v = v - (q @ v) * q\n"
             "            cols.append(v / v.norm())\n"
             "        out.append((torch.stack(cols, dim=1), order))\n"
             "    (QL2, oL), (QR2, oR) = out\n"
             "    return QL2, QR2, V[oL, :][:, oR]\n"),
        Edit("newton_schulz", None,
             "def newton_schulz(G, steps=5, coefficients=(3.4445, -4.775, 2.0315), eps=1e-7):\n"
             "    a, b, c = coefficients\n"
             "    X = G / torch.clamp(torch.linalg.matrix_norm(G), min=eps)\n"
             "    for _ in range(steps):\n"
             "        B = X.T @ X  # the Gram matrix on the right: the same polynomial, no transpose\n"
             "        X = a * X + b * X @ B + c * X @ B @ B\n"
             "    return X\n"),
        Edit("muon_step", None,
             "def muon_step(param, grad, buf, lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.1, ns_steps=5):\n"
             "    m = torch.zeros_like(param) if buf is None else buf\n"
             "    m.lerp_(grad, 1 - momentum)\n"
             "    u = torch.lerp(grad, m, momentum) if nesterov else m\n"
             "    o = newton_schulz(u, steps=ns_steps)\n"
             "    param.mul_(1 - lr * weight_decay)\n"
             "    param.add_(o, alpha=-lr * (max(1, param.shape[0] / param.shape[1])) ** 0.5)\n"
             "    return param, m\n"),
    ), full_marks=True,
        why="einsum rotations and in-place lerp; Python sort and Gram-Schmidt in the refresh; Newton-Schulz with "
            "the Gram matrix on the right; in-place Muon"),
]
