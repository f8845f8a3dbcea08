//! PPP framing and control protocols (RFC 1661 and family). The codecs follow in the next commit; for
//! now this module holds the bounds-checked reader the PPPoE codec shares.
pub(crate) mod wire;
