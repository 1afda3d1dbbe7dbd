//! Integration tests of the derives and the type system, in one test binary
//! (one compile on a 2-core machine).

mod compile_time;
mod example;
mod layouts;
mod ui;
mod vectors;
