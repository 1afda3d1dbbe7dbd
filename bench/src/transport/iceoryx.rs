//! iceoryx2 (0.10) publish-subscribe of `[u8]` slices of the payload size:
//! the publisher loans an uninitialized sample (`loan_slice_uninit`),
//! writes the payload in place and sends it; the subscriber polls
//! `receive()` in a loop and reads the sample in place. Lossless like
//! DataHub's Block ring: no safe overflow, `RetryUntilDelivered`, the
//! subscriber's buffer as deep as DataHub's ring, no history.

use anyhow::{Context, Result, anyhow, bail, ensure};
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory as PubSub;

use super::{Endpoint, Link, Side, Waiting, retry, spin_until};
use crate::payload;

type Service = ipc::Service;

struct Iceoryx {
    // Field order is drop order: ports, then services, then the node.
    publisher: Option<Publisher<Service, [u8], ()>>,
    subscriber: Option<Subscriber<Service, [u8], ()>>,
    _services: Vec<PubSub<Service, [u8], ()>>,
    size: usize,
    _node: Node<Service>,
}

/// The service names of `side`: (the one it publishes, the one it subscribes).
fn services(link: &Link, side: Side) -> (Option<String>, Option<String>) {
    let name = |suffix: &str| Some(format!("{}/{suffix}", link.tag));
    match side {
        Side::A => (name("a2b"), name("b2a")),
        Side::B => (name("b2a"), name("a2b")),
        Side::Producer => (name("s"), None),
        Side::Consumer => (None, name("s")),
    }
}

fn service(node: &Node<Service>, link: &Link, name: &str) -> Result<PubSub<Service, [u8], ()>> {
    let service_name: ServiceName = name
        .try_into()
        .map_err(|e| anyhow!("iceoryx2 service name `{name}`: {e:?}"))?;
    // Both sides open or create it, with the same settings; the first
    // creates it. Retried: the other side may be creating it right now.
    retry(&format!("opening iceoryx2 service `{name}`"), || {
        node.service_builder(&service_name)
            .publish_subscribe::<[u8]>()
            .max_publishers(1)
            .max_subscribers(link.consumers.max(1) as usize)
            .history_size(0)
            .subscriber_max_buffer_size(link.depth as usize)
            .subscriber_max_borrowed_samples(1)
            .enable_safe_overflow(false)
            .open_or_create()
            .map_err(|e| anyhow!("{e:?}"))
    })
}

pub(super) fn open(link: &Link, side: Side) -> Result<Box<dyn Endpoint>> {
    ensure!(
        link.waiting == Waiting::Spin,
        "iceoryx2 is measured busy-polling only"
    );
    set_log_level(LogLevel::Error);
    let node = NodeBuilder::new()
        .create::<Service>()
        .map_err(|e| anyhow!("creating an iceoryx2 node: {e:?}"))?;
    let (publishes, subscribes) = services(link, side);
    let mut services = Vec::new();
    let mut publisher = None;
    let mut subscriber = None;
    if let Some(name) = publishes {
        let factory = service(&node, link, &name)?;
        publisher = Some(
            factory
                .publisher_builder()
                .initial_max_slice_len(link.size)
                .max_loaned_samples(1)
                .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                .create()
                .map_err(|e| anyhow!("creating an iceoryx2 publisher on `{name}`: {e:?}"))?,
        );
        services.push(factory);
    }
    if let Some(name) = subscribes {
        let factory = service(&node, link, &name)?;
        subscriber = Some(
            factory
                .subscriber_builder()
                .buffer_size(link.depth as usize)
                .create()
                .map_err(|e| anyhow!("creating an iceoryx2 subscriber on `{name}`: {e:?}"))?,
        );
        services.push(factory);
    }
    if publisher.is_some() {
        let wanted = if side == Side::Producer {
            link.consumers as usize
        } else {
            1
        };
        let published = &services[0];
        retry("waiting for iceoryx2 subscribers", || {
            let found = published.dynamic_config().number_of_subscribers();
            if found >= wanted {
                Ok(())
            } else {
                bail!("{found} of {wanted} subscribers connected")
            }
        })?;
    }
    Ok(Box::new(Iceoryx {
        publisher,
        subscriber,
        _services: services,
        size: link.size,
        _node: node,
    }))
}

impl Endpoint for Iceoryx {
    fn send(&mut self, seq: u64) -> Result<()> {
        let publisher = self.publisher.as_ref().context("this end only receives")?;
        // A subscriber that connected a moment ago may not be known to the
        // publisher yet (delivered to 0): the first sends are retried.
        let mut attempts = 0u32;
        loop {
            let mut sample = publisher
                .loan_slice_uninit(self.size)
                .map_err(|e| anyhow!("iceoryx2 loan: {e:?}"))?;
            payload::fill_uninit(sample.payload_mut(), seq);
            // SAFETY: `fill_uninit` wrote every byte of the payload.
            let sample = unsafe { sample.assume_init() };
            let delivered = sample.send().map_err(|e| anyhow!("iceoryx2 send: {e:?}"))?;
            if delivered > 0 {
                return Ok(());
            }
            attempts += 1;
            if attempts > 20_000 {
                bail!("iceoryx2: sample {seq} reached no subscriber");
            }
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }

    fn recv(&mut self) -> Result<u64> {
        let subscriber = self.subscriber.as_ref().context("this end only sends")?;
        spin_until("iceoryx2 receive", || {
            match subscriber
                .receive()
                .map_err(|e| anyhow!("iceoryx2 receive: {e:?}"))?
            {
                Some(sample) => Ok(Some(payload::check(sample.payload())?)),
                None => Ok(None),
            }
        })
    }
}
