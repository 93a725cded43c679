//! A node of the tape in 24 bytes: its op, and its value as a NaN-boxed slot (the
//! number itself for rank 0, an index into the tensor arena otherwise). On the hot path:
//! every recorded op and every backward step reads a node.

use crate::op::Op;

/// Where a node's value lives, in 8 bytes: a rank-0 value is the `f64` itself; a tensor
/// value is an index into the tensor arena, kept as a NaN with a payload arithmetic never
/// produces (NaN-boxing). A scalar NaN is stored as the canonical NaN, so the two cannot
/// be confused. Small nodes are most of what makes a long scalar tape fast.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot(pub(crate) u64);

/// A quiet NaN with bits 50 and 51 set; the canonical NaN has only bit 51.
const TENSOR_TAG: u64 = 0x7FFC_0000_0000_0000;

impl Slot {
    #[inline(always)]
    pub(crate) fn scalar(x: f64) -> Slot {
        Slot(if x.is_nan() { f64::NAN } else { x }.to_bits())
    }
    #[inline(always)]
    pub(crate) fn tensor(k: u32) -> Slot {
        Slot(TENSOR_TAG | u64::from(k))
    }
    #[inline(always)]
    pub(crate) fn kind(self) -> Kind {
        if self.0 & 0xFFFF_FFFF_0000_0000 == TENSOR_TAG {
            Kind::Tensor(self.0 as u32)
        } else {
            Kind::Scalar(f64::from_bits(self.0))
        }
    }
}

/// A [`Slot`] unpacked.
pub(crate) enum Kind {
    Scalar(f64),
    Tensor(u32),
}

// A node is 24 bytes: the op (16) and the value slot (8); backward adds an 8-byte adjoint.
const _: () = assert!(std::mem::size_of::<Node>() == 24);

#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub(crate) op: Op,
    pub(crate) value: Slot,
}
