//! Who is asking, as the handlers need it: the peer's uid, whether it is trusted (root, routerd's uid,
//! the control group), and the per-uid long-poll slots of its socket. The listener makes one per
//! connection; handlers ask it for a long-poll slot.

use super::response::Failure;
use routerd_http::{UidSlot, UidSlots};
use std::sync::Arc;

/// Who is asking, as the handlers need it: long-polls are limited per untrusted uid.
pub struct Caller {
    pub uid: u32,
    pub trusted: bool,
    pub(super) long_polls: Arc<UidSlots>,
}

impl Caller {
    /// A long-poll slot for this caller (none needed when trusted), or 429 when the uid already has
    /// its share open (`listener::PER_UID_LONG_POLLS`).
    pub fn long_poll(&self) -> Result<Option<UidSlot>, Failure> {
        if self.trusted {
            return Ok(None);
        }
        match self.long_polls.try_take(self.uid) {
            Some(slot) => Ok(Some(slot)),
            None => Err(Failure::too_many_requests(format!(
                "uid {} already has {} long-polls open on this socket; close one, or poll without wait",
                self.uid,
                self.long_polls.per_uid()
            ))),
        }
    }
}
