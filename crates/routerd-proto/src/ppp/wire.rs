//! Bounds-checked reading shared by the PPPoE and PPP decoders: every read either yields the bytes asked
//! for or a [`Short`] saying how many were needed, so no decoder ever indexes past its input.

/// A read past the end of the input: `need` bytes (counted from the start of the parsed buffer) were
/// required, only `have` exist. Each module converts it into its own `Truncated` error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Short {
    pub(crate) need: usize,
    pub(crate) have: usize,
}

/// A forward-only reader over a byte slice that never panics.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    rest: &'a [u8],
    consumed: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self {
            rest: buf,
            consumed: 0,
        }
    }

    /// The next `n` bytes, or [`Short`] without consuming anything.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        match self.rest.split_at_checked(n) {
            Some((head, tail)) => {
                self.rest = tail;
                self.consumed += n;
                Ok(head)
            }
            None => Err(Short {
                need: self.consumed.saturating_add(n),
                have: self.consumed + self.rest.len(),
            }),
        }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Short> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Short> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Short> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Everything not read yet, consuming it.
    pub(crate) fn take_rest(&mut self) -> &'a [u8] {
        let rest = self.rest;
        self.consumed += rest.len();
        self.rest = &[];
        rest
    }

    /// Octets not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}
