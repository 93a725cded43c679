//! Gradients recorded on the tape ([`Tape::grad`] with `create_graph`): the same rules
//! run on [`Var`], so a gradient can be differentiated again. Not a hot path.

use crate::algebra::Algebra;
use crate::op::{Id, Op};
use crate::tape::Tape;
use crate::tape::Var;
use crate::tensor::Tensor;
use smallvec::SmallVec;

impl Tape {
    /// Gradients of `y` (one element) with respect to `wrt`, as `torch.autograd.grad`.
    /// With `create_graph`, the gradients are themselves recorded on this tape and can be
    /// differentiated again; the same backward rules run, on `Var` instead of `Tensor`.
    ///
    /// ```
    /// use tape::prelude::*;
    /// let tape = Tape::new();
    /// let x = tape.param(2.0);
    /// let y = x.powi(3);
    /// let dy = tape.grad(y, &[x], true)[0];   // 3x² = 12
    /// let d2y = tape.grad(dy, &[x], false)[0]; // 6x = 12
    /// assert_eq!((dy.item(), d2y.item()), (12.0, 12.0));
    /// ```
    #[track_caller]
    pub fn grad<'t>(&'t self, y: Var<'t>, wrt: &[Var<'t>], create_graph: bool) -> Vec<Var<'t>> {
        for v in wrt {
            self.same_tape("grad", v);
        }
        if !create_graph {
            let grads = y.backward();
            return wrt.iter().map(|&v| self.constant(grads.get(v))).collect();
        }
        y.assert_one_element("grad");
        let n = y.id as usize + 1;
        let mut adj: Vec<Option<Var<'t>>> = vec![None; n];
        adj[y.id as usize] = Some(self.constant(Tensor::ones(&y.shape())));
        for i in (0..n).rev() {
            let Some(g) = adj[i] else { continue };
            // Copy the node out: the rules below record onto this tape.
            let (op, ins, xs, y) = {
                let inner = self.inner.borrow();
                let op = inner.nodes[i].op;
                let ins = inner.spec(op).inputs;
                let xs: SmallVec<[Var<'t>; 4]> =
                    ins.iter().map(|&id| inner.handle(self, id)).collect();
                (op, ins, xs, inner.handle(self, i as Id))
            };
            let out: SmallVec<[Option<Var<'t>>; 4]> = match op {
                Op::Custom(k) => {
                    let need: SmallVec<[bool; 4]> = xs.iter().map(|v| v.requires_grad()).collect();
                    self.custom_vjp_var(k, &xs, y, g, &need)
                        .into_iter()
                        .collect()
                }
                _ => {
                    let need = [0, 1].map(|k| xs.get(k).is_some_and(|v| v.requires_grad()));
                    op.vjp(&xs, &y, &g, need).into_iter().collect()
                }
            };
            for (k, d) in out.into_iter().enumerate() {
                if let Some(d) = d {
                    let slot = &mut adj[ins[k] as usize];
                    *slot = Some(match *slot {
                        Some(prev) => prev + d,
                        None => d,
                    });
                }
            }
        }
        wrt.iter()
            .map(|v| match adj.get(v.id as usize).copied().flatten() {
                Some(g) => g,
                None => self.constant(Tensor::zeros(&v.shape())),
            })
            .collect()
    }
}
