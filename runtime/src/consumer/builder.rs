//! `Consumer::builder`: how a consumer attaches, said once, then
//! `attach()` (by name, in this host's shared memory) or `discover()`
//! (through a broker).

use std::marker::PhantomData;
use std::time::Duration;

use super::{AttachOptions, Consumer};
use crate::config::Secret;
use crate::discovery::Discovery;
use crate::error::Error;
use crate::payload::Payload;
use crate::ring::{Start, WaitStrategy};
use crate::types::SchemaHash;

/// Attaches a [`Consumer`] to a channel: each setting is optional (the
/// defaults are [`AttachOptions::default`]'s); end with
/// [`attach`](Self::attach) or [`discover`](Self::discover).
///
/// ```
/// use std::time::Duration;
/// use datahub::{ChannelConfig, Consumer, Producer, Start};
///
/// # let name = format!("doc-builder-{}", std::process::id());
/// let mut p = Producer::<u64>::create(&ChannelConfig::new(&name))?;
/// p.send(1)?;
/// p.send(2)?;
/// let c = Consumer::<u64>::builder(&name)
///     .start(Start::Newest)
///     .ready_timeout(Duration::from_secs(2))
///     .attach()?;
/// assert_eq!(*c.next(Duration::from_secs(1))?, 2); // the newest held, not 1
/// # Ok::<(), datahub::Error>(())
/// ```
#[must_use = "a builder does nothing until `attach` or `discover`"]
#[derive(Debug, Clone)]
pub struct ConsumerBuilder<P: Payload> {
    name: String,
    options: AttachOptions,
    _slot: PhantomData<fn() -> P>,
}

impl<P: Payload> Consumer<P> {
    /// A builder for a consumer of channel `name`.
    pub fn builder(name: impl Into<String>) -> ConsumerBuilder<P> {
        ConsumerBuilder {
            name: name.into(),
            options: AttachOptions::default(),
            _slot: PhantomData,
        }
    }
}

impl<P: Payload> ConsumerBuilder<P> {
    /// Where to start reading (default: the oldest item held).
    pub fn start(mut self, start: Start) -> Self {
        self.options = self.options.start(start);
        self
    }

    /// How long to wait for a segment that is still being created
    /// (default: 1 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.options = self.options.ready_timeout(timeout);
        self
    }

    /// How blocked reads wait.
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.options = self.options.wait_strategy(strategy);
        self
    }

    /// Refuses a channel whose channel hash (slot type, zones and their
    /// kinds) is not `hash`: a generated channel module's `CHANNEL_HASH`.
    pub fn channel_hash(mut self, hash: SchemaHash) -> Self {
        self.options = self.options.channel_hash(hash);
        self
    }

    /// The channel's secret, for a channel created with one.
    pub fn secret(mut self, secret: Secret) -> Self {
        self.options = self.options.secret(secret);
        self
    }

    /// All the settings at once, replacing those made so far.
    pub fn options(mut self, options: AttachOptions) -> Self {
        self.options = options;
        self
    }

    /// Attaches to the channel in this host's shared memory: see
    /// [`Consumer::attach_with`] for what it refuses.
    pub fn attach(&self) -> Result<Consumer<P>, Error> {
        Consumer::attach_with(&self.name, &self.options)
    }

    /// Finds the channel through `hub` (a broker's client), then attaches:
    /// see [`Consumer::discover_with`].
    pub fn discover(&self, hub: &(impl Discovery + ?Sized)) -> Result<Consumer<P>, Error> {
        Consumer::discover_with(hub, &self.name, &self.options)
    }
}
