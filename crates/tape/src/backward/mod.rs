//! The backward walk: from the output down the arena (already a reverse topological
//! order), each node's rule turning its adjoint into its inputs'. A scalar fast path runs
//! elementwise rules on `f64` and carries a chain's adjoint in a register; every other
//! node takes `Gradients::step`. The hot path of every training step.

mod create_graph;
mod custom;
mod gradients;

pub use gradients::Gradients;

use crate::algebra::Algebra;
use crate::op::{Id, Op, Path};
use crate::tape::Var;
use crate::tape::{Inner, Kind};
use crate::tensor::Tensor;

/// The adjoint a rank-0 node starts with: −0 is the identity of addition (−0 + x is x
/// for every x, +0 included), so any contribution, even +0, leaves a different bit
/// pattern, and a node still holding −0 was never reached from the output. Its backward
/// rule is then skipped, as PyTorch skips a node off the path: 0·∞ would otherwise put a
/// NaN into its inputs. (A node reached only by contributions of −0 counts as unreached;
/// its rule would add only zeros, or NaN where a local derivative is infinite.)
pub(crate) const UNREACHED: f64 = -0.0;

#[inline(always)]
pub(crate) fn is_unreached(g: f64) -> bool {
    g.to_bits() == UNREACHED.to_bits()
}

/// An adjoint as read: a node never reached has gradient 0.
pub(crate) fn reached_or_zero(g: f64) -> f64 {
    if is_unreached(g) {
        0.0
    } else {
        g
    }
}

impl<'t> Var<'t> {
    #[track_caller]
    pub(crate) fn assert_one_element(&self, op: &str) {
        let shape = self.shape();
        assert!(
            crate::tensor::numel(&shape) == 1,
            "{op}: output #{} has shape {:?}; a gradient needs a one-element output, \
             or backward_with(seed) with a seed of that shape",
            self.id,
            &shape[..]
        );
    }

    /// Reverse mode from a one-element value: the gradient of every value that requires
    /// one. Each call returns a fresh [`Gradients`] set: nothing accumulates across
    /// calls, so there is no `zero_grad` to forget.
    ///
    /// ```
    /// use tape::prelude::*;
    /// let tape = Tape::new();
    /// let w = tape.param([1.0, -2.0]);
    /// let loss = w.square().sum();
    /// assert_eq!(loss.backward().get(w).to_vec(), vec![2.0, -4.0]);
    /// assert_eq!(loss.backward().get(w).to_vec(), vec![2.0, -4.0]);
    /// ```
    #[track_caller]
    pub fn backward(self) -> Gradients<'t> {
        let rank0 = matches!(self.node_slot().kind(), Kind::Scalar(_));
        if rank0 {
            return self.reverse(None); // the usual loss: seeded with 1, no tensor made
        }
        self.assert_one_element("backward");
        self.backward_with(&Tensor::ones(&self.shape()))
    }

    /// Reverse mode from a value of any shape, seeded with the adjoint `seed` of that
    /// shape (PyTorch's `y.backward(gradient=seed)`).
    ///
    /// ```
    /// let tape = tape::Tape::new();
    /// let x = tape.param([1.0, 2.0]);
    /// let y = x * 3.0;
    /// let g = y.backward_with(&tape::Tensor::from([1.0, 10.0]));
    /// assert_eq!(g.get(x).to_vec(), vec![3.0, 30.0]);
    /// ```
    #[track_caller]
    pub fn backward_with(self, seed: &Tensor) -> Gradients<'t> {
        let shape = self.shape();
        assert!(
            seed.shape() == &shape[..],
            "backward_with: seed of shape {:?} does not match output #{} of shape {:?}",
            seed.shape(),
            self.id,
            &shape[..]
        );
        self.reverse(Some(seed))
    }

    /// The gradients of this one-element value in each of `wrt`, in order, written into
    /// `out` (cleared first): `[g.get(v) for v in wrt]` of `g = self.backward()`, for a
    /// training loop that needs only its parameters' gradients. They are moved out of the
    /// backward pass rather than copied, and `out` keeps its memory from step to step. Panics as [`Gradients::get`] does.
    ///
    /// ```
    /// use tape::prelude::*;
    /// let tape = Tape::new();
    /// let (a, b) = (tape.param([1.0, 2.0]), tape.param(3.0));
    /// let loss = (a * b).sum();
    /// let mut grads = Vec::new();
    /// loss.backward_into([a, b], &mut grads);
    /// assert_eq!(grads[0].to_vec(), vec![3.0, 3.0]);
    /// assert_eq!(grads[1].item(), 3.0);
    /// ```
    #[track_caller]
    pub fn backward_into<I>(self, wrt: I, out: &mut Vec<Tensor>)
    where
        I: IntoIterator<Item = Var<'t>>,
        I::IntoIter: Clone,
    {
        let wrt = wrt.into_iter();
        out.clear();
        let inner = self.tape.inner.borrow();
        if inner.custom_leaf_gradients(self.tape, self.id as usize, wrt.clone(), out) {
            return;
        }
        drop(inner);
        out.clear();
        let mut grads = self.backward();
        let mut rest = wrt.clone();
        for v in wrt {
            rest.next();
            // Moved out unless asked for again later in `wrt`.
            let again = rest.clone().any(|u| u.id == v.id);
            let g = if again {
                grads.try_get(v)
            } else {
                grads.take(v)
            };
            match g {
                Ok(g) => out.push(g),
                Err(e) => panic!("{e}"),
            }
        }
    }

    /// Reverse mode from this node, seeded with `seed` (1 for a rank-0 node if `None`).
    pub(crate) fn reverse(self, seed: Option<&Tensor>) -> Gradients<'t> {
        let n = self.id as usize + 1;
        let (mut scalars, mut tensors) = std::mem::take(&mut self.tape.inner.borrow_mut().spare);
        scalars.clear();
        scalars.resize(n, UNREACHED);
        let inner = self.tape.inner.borrow();
        tensors.clear();
        tensors.extend((0..inner.tensors.len()).map(|_| None));
        let mut grads = Gradients {
            tape: self.tape,
            len: n,
            scalars,
            tensors,
        };
        match seed {
            Some(seed) => grads.accumulate(&inner, self.id, seed.clone()),
            None => grads.scalars[self.id as usize] = 1.0,
        }
        let fast = !inner.detect_anomaly;
        // The part of node i's adjoint that node i + 1 passed on in a register.
        let mut carry = UNREACHED;
        let first = (inner.first_op as usize).min(n);
        for i in (first..n).rev() {
            let g = grads.scalars[i] + carry;
            grads.scalars[i] = g;
            carry = UNREACHED;
            if fast {
                if let Some(c) = inner.backward_scalar(i, g, &mut grads.scalars) {
                    carry = c;
                    continue;
                }
            }
            grads.step(&inner, i);
        }
        if first > 0 {
            grads.scalars[first - 1] += carry; // the leaf just before the first op
        }
        grads
    }
}

impl Inner {
    /// One step of backward on the scalar fast path: node `i` is an elementwise op with a
    /// rank-0 value (so its inputs are rank 0 too: broadcasting never shrinks a rank), and
    /// `g` its adjoint. Runs the same rule on `f64` and returns the contribution to node
    /// `i - 1`, which the caller carries in a register: in a chain, each node's only input
    /// is the node just before it, and a round trip through memory would put a store and
    /// a load on the critical path of every step. Returns `None`, having done nothing,
    /// when node `i` needs the tensor path (a leaf returns `Some(0.0)`).
    ///
    /// Every input gets its contribution, needed or not: for rank 0 a partial costs a
    /// multiply, less than asking whether it is needed; a constant's adjoint is never
    /// read (`Gradients::get` refuses constants, the listing does not print it).
    #[inline(always)]
    pub(crate) fn backward_scalar(&self, i: usize, g: f64, adj: &mut [f64]) -> Option<f64> {
        let node = &self.nodes[i];
        let Kind::Scalar(y) = node.value.kind() else {
            return match node.op {
                Op::Const | Op::Param => Some(UNREACHED),
                _ => None,
            };
        };
        // Off the path to the output: its rule must not run (0·∞ would be NaN).
        if is_unreached(g) {
            return Some(UNREACHED);
        }
        // Rank 0 is known here, so the value is the slot's bits as they are.
        let val = |j: Id| f64::from_bits(self.nodes[j as usize].value.0);
        let mut carry = UNREACHED;
        // The last contribution to node i − 1 goes to the carry, any other to memory: node
        // i − 1's adjoint is then its contributions summed in walk order, as the teaching
        // core sums them (`teach.rs`), bit for bit.
        let mut put = |j: Id, d: Option<f64>, last: bool| {
            let d = d.unwrap_or(UNREACHED);
            if last && j as usize + 1 == i {
                carry += d;
            } else {
                adj[j as usize] += d;
            }
        };
        // Reductions and reshapes may make rank 0 of a tensor: only elementwise ops are
        // sure to have rank-0 inputs here. (A custom op is never elementwise.)
        let spec = node.op.spec();
        if spec.path != Path::Elementwise {
            return None;
        }
        let [a, b, ..] = spec.inputs.ids;
        match spec.inputs.len {
            1 => {
                let [da, _] = node.op.vjp(&[val(a)], &y, &g, [true, false]);
                put(a, da, true);
            }
            2 => {
                let [da, db] = node.op.vjp(&[val(a), val(b)], &y, &g, [true, true]);
                put(a, da, a != b);
                put(b, db, true);
            }
            _ => {} // a leaf
        }
        Some(carry)
    }
}

#[cfg(test)]
mod tests {
    use crate::prelude::*;

    /// Issue 19's reproducers: a value recorded before the output but off its path does
    /// not touch a gradient. The expected figures are PyTorch's (float64): the gradient of
    /// the output alone, since PyTorch never visits a node off the path.
    #[test]
    fn nodes_off_the_path_to_the_output_change_no_gradient() {
        // x = 0: sqrt's local derivative is ∞; PyTorch gives d(2x)/dx = 2.
        let tape = Tape::new();
        let x = tape.param(0.0);
        let _ = x.sqrt();
        let y = x * 2.0;
        assert_eq!(y.backward().get(x).item(), 2.0);
        let mut out = Vec::new();
        y.backward_into([x], &mut out);
        assert_eq!(out[0].item(), 2.0);
        assert_eq!(tape.grad(y, &[x], false)[0].value().item(), 2.0);
        // exp(w²) kept for logging overflows at w = 30; loss = w² + 1 has gradient 60.
        let tape = Tape::new();
        let w = tape.param(30.0);
        let logged = (w * w).exp();
        let loss = w * w + 1.0;
        assert!(logged.value().item().is_infinite());
        assert_eq!(loss.backward().get(w).item(), 60.0);
        // 1/x and ln(x) at 0 off the path.
        let tape = Tape::new();
        let x = tape.param(0.0);
        let _ = 1.0 / x;
        let _ = x.ln();
        let y = x * 3.0 + 1.0;
        assert_eq!(y.backward().get(x).item(), 3.0);
        // On the path, 0·∞ is NaN, as in PyTorch (torch.sqrt(x) * 0 at x = 0).
        let tape = Tape::new();
        let x = tape.param(0.0);
        let y = x.sqrt() * 0.0;
        assert!(y.backward().get(x).item().is_nan());
        // A parameter off the path reads 0, not −0.
        let tape = Tape::new();
        let (a, b) = (tape.param(1.0), tape.param(2.0));
        let g = (a * 3.0).backward();
        assert_eq!(g.get(b).item().to_bits(), 0.0f64.to_bits());
        // Anomaly mode takes the general path: the same answer, and no false alarm.
        let tape = Tape::new();
        tape.set_detect_anomaly(true);
        let x = tape.param(0.0);
        let _ = x.sqrt();
        assert_eq!((x * 2.0).backward().get(x).item(), 2.0);
    }
}
