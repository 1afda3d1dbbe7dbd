//! Reading a channel as an iterator (`Consumer::iter`), and through a
//! closure (`Consumer::read_with`).

use std::iter::FusedIterator;

use super::{Consumer, ReadSlot};
use crate::backoff::Wait;
use crate::error::{Error, ErrorKind};
use crate::payload::Payload;

impl<P: Payload> Consumer<P> {
    /// The items in order, each waited for without a timeout: the
    /// iterator ends (`None`) when the producer closed the channel and
    /// every item was read. Another error ([`ErrorKind::ProducerGone`](crate::ErrorKind::ProducerGone), or
    /// [`ErrorKind::ItemHeld`](crate::ErrorKind::ItemHeld) for an item kept across `next` calls: drop each
    /// before taking the next) is yielded once, then the iterator ends.
    ///
    /// ```
    /// use datahub::{ChannelConfig, Consumer, Producer};
    ///
    /// # let name = format!("doc-iter-{}", std::process::id());
    /// let mut p = Producer::<u64>::create(&ChannelConfig::new(&name))?;
    /// let c = Consumer::<u64>::attach(&name)?;
    /// for v in 1..=3 {
    ///     p.send(v)?;
    /// }
    /// drop(p); // closes the channel: the iterator ends after item 3
    /// let mut sum = 0;
    /// for item in &c {
    ///     sum += *item?;
    /// }
    /// assert_eq!(sum, 6);
    /// # Ok::<(), datahub::Error>(())
    /// ```
    pub fn iter(&self) -> Iter<'_, P> {
        Iter {
            consumer: self,
            done: false,
        }
    }

    /// Reads the next item with `read` (which sees the slot in place:
    /// its value, [`seq`](ReadSlot::seq), [`commit_time`](ReadSlot::commit_time))
    /// and releases it; returns what `read` returned.
    ///
    /// ```
    /// use std::time::Duration;
    /// use datahub::{ChannelConfig, Consumer, Producer};
    ///
    /// # let name = format!("doc-read-with-{}", std::process::id());
    /// let mut p = Producer::<[u32; 3]>::create(&ChannelConfig::new(&name))?;
    /// let c = Consumer::<[u32; 3]>::attach(&name)?;
    /// p.send([1, 2, 3])?;
    /// let sum: u32 = c.read_with(Duration::from_secs(1), |item| item.iter().sum())?;
    /// assert_eq!(sum, 6);
    /// # Ok::<(), datahub::Error>(())
    /// ```
    pub fn read_with<R>(
        &self,
        wait: impl Into<Wait>,
        read: impl FnOnce(&ReadSlot<'_, P>) -> R,
    ) -> Result<R, Error> {
        Ok(read(&self.next(wait)?))
    }
}

/// The items of a [`Consumer`] in order: see [`Consumer::iter`].
#[must_use = "an iterator reads nothing until iterated"]
pub struct Iter<'a, P: Payload> {
    consumer: &'a Consumer<P>,
    done: bool,
}

impl<'a, P: Payload> Iterator for Iter<'a, P> {
    type Item = Result<ReadSlot<'a, P>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.consumer.next(Wait::Forever) {
            Ok(slot) => Some(Ok(slot)),
            Err(e) if matches!(e.kind(), ErrorKind::Closed { .. }) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<P: Payload> FusedIterator for Iter<'_, P> {}

impl<'a, P: Payload> IntoIterator for &'a Consumer<P> {
    type Item = Result<ReadSlot<'a, P>, Error>;
    type IntoIter = Iter<'a, P>;

    fn into_iter(self) -> Iter<'a, P> {
        self.iter()
    }
}

impl<P: Payload> std::fmt::Debug for Iter<'_, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter")
            .field("channel", &self.consumer.channel())
            .field("done", &self.done)
            .finish()
    }
}
