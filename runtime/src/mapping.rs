//! [`Mapping`]: a hold on a channel's shared memory, for bindings whose
//! views of a slot or zone (a numpy array, say) can outlive the handle
//! they came from.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::segment::shm::Segment;

/// A number no other handle of this process has had: what a detached
/// slot, item or lock names its handle by (an address could be reused by
/// a later handle).
pub(crate) fn handle_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    // Relaxed: only uniqueness is needed, which the RMW gives.
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Keeps a channel's segment mapped while held, whatever happens to the
/// producer, consumer or zone handle it came from (each holds one too):
/// the addresses they gave stay valid memory. It gives no access itself,
/// and does not keep the channel open: a dropped producer still closes it.
///
/// ```
/// use datahub::{Bytes, ChannelConfig, Producer};
///
/// # let name = format!("doc-mapping-{}", std::process::id());
/// let p = Producer::<Bytes>::create(&ChannelConfig::new(&name).slot_size(64))?;
/// let mapping = p.mapping();
/// drop(p);                      // closed, its name removed ...
/// assert_eq!(mapping.channel(), name); // ... but still mapped here
/// # Ok::<(), datahub::Error>(())
/// ```
#[derive(Clone)]
pub struct Mapping(Arc<Segment>);

impl Mapping {
    pub(crate) fn new(segment: &Arc<Segment>) -> Self {
        Self(Arc::clone(segment))
    }

    /// The channel's name.
    pub fn channel(&self) -> &str {
        self.0.channel()
    }
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Mapping").field(&self.0.channel()).finish()
    }
}
