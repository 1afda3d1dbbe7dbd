//! Integration tests of the runtime (derives, type system, channels), in
//! one test binary (one compile on a 2-core machine).

mod api;
mod channel;
mod compile_time;
mod described;
mod example;
mod handles;
mod layouts;
mod processes;
mod raw_bytes;
mod ui;
mod vectors;
mod zones;
