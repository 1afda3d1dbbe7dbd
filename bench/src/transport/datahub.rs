//! DataHub: a lossless (`Overflow::Block`) ring of raw `Bytes` slots of
//! the payload size; the producer writes each item in place between
//! `acquire` and `commit`, the consumer reads it in place in `next()`.
//! Busy-polling is `WaitStrategy::busy_poll()` on both sides.

use anyhow::{Context, Result, bail};
use datahub::{
    AttachOptions, Bytes, ChannelConfig, ChecksumPolicy, Consumer, Overflow, Producer, Start,
    WaitStrategy,
};

use super::{Endpoint, IO_TIMEOUT, Link, Side, Waiting, retry};
use crate::payload;

struct DataHub {
    producer: Option<Producer<Bytes>>,
    consumer: Option<Consumer<Bytes>>,
}

fn strategy(link: &Link) -> WaitStrategy {
    match link.waiting {
        Waiting::Spin => WaitStrategy::busy_poll(),
        Waiting::Sleep | Waiting::Block => WaitStrategy::default(),
    }
}

/// The channel names of `side`: (the one it writes, the one it reads).
fn channels(link: &Link, side: Side) -> (Option<String>, Option<String>) {
    let name = |suffix: &str| Some(format!("{}-{suffix}", link.tag));
    match side {
        Side::A => (name("a2b"), name("b2a")),
        Side::B => (name("b2a"), name("a2b")),
        Side::Producer => (name("s"), None),
        Side::Consumer => (None, name("s")),
    }
}

pub(super) fn open(link: &Link, side: Side) -> Result<Box<dyn Endpoint>> {
    let (writes, reads) = channels(link, side);
    let producer = match writes {
        Some(name) => {
            let config = ChannelConfig::new(&name)
                .slot_size(link.size as u64)
                .capacity(link.depth)
                .overflow(Overflow::Block)
                .checksum(if link.checksum {
                    ChecksumPolicy::Enforced
                } else {
                    ChecksumPolicy::None
                })
                .max_consumers(link.consumers.max(1));
            let mut producer = Producer::<Bytes>::create(&config)
                .with_context(|| format!("creating DataHub channel `{name}`"))?;
            producer.set_wait_strategy(strategy(link));
            Some(producer)
        }
        None => None,
    };
    let consumer = match reads {
        Some(name) => {
            let options = AttachOptions::default()
                .start(Start::Oldest)
                .wait_strategy(strategy(link));
            Some(retry(
                &format!("attaching to DataHub channel `{name}`"),
                || Ok(Consumer::<Bytes>::attach_with(&name, &options)?),
            )?)
        }
        None => None,
    };
    if let Some(producer) = &producer {
        let wanted = if side == Side::Producer {
            link.consumers as usize
        } else {
            1
        };
        retry("waiting for DataHub consumers", || {
            if producer.consumer_count() >= wanted {
                Ok(())
            } else {
                bail!(
                    "{} of {wanted} consumers attached",
                    producer.consumer_count()
                )
            }
        })?;
    }
    Ok(Box::new(DataHub { producer, consumer }))
}

impl Endpoint for DataHub {
    fn send(&mut self, seq: u64) -> Result<()> {
        let producer = self.producer.as_mut().context("this end only receives")?;
        let mut slot = producer.acquire(IO_TIMEOUT)?;
        payload::fill(&mut slot, seq);
        slot.commit();
        Ok(())
    }

    fn recv(&mut self) -> Result<u64> {
        let consumer = self.consumer.as_mut().context("this end only sends")?;
        let slot = consumer.next(IO_TIMEOUT)?;
        payload::check(&slot)
    }
}
