//! The calling conventions of issue 16's API: one `impl Into<Wait>`
//! argument (a timeout, a deadline, or none), `send`, the write loan that
//! never shows an older item's bytes, the consumer builder, `iter()` and
//! `read_with`.

use std::thread;
use std::time::{Duration, Instant};

use datahub::{Bytes, ChannelConfig, Consumer, ErrorKind, Overflow, Producer, Start, Wait};

use crate::channel::Name;

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn a_read_without_a_timeout_waits_for_the_item_and_ends_when_the_channel_closes() {
    let name = Name::new("api-forever");
    let mut p = Producer::<u64>::create(&ChannelConfig::new(&name.0)).unwrap();
    let c = Consumer::<u64>::attach(&name.0).unwrap();
    thread::scope(|s| {
        let reader = s.spawn(|| {
            let first = *c.next(Wait::Forever).unwrap();
            let after = c.next(Wait::Forever).map(|item| *item);
            (first, after)
        });
        thread::sleep(Duration::from_millis(50));
        p.send(42).unwrap();
        thread::sleep(Duration::from_millis(50));
        drop(p);
        let (first, after) = reader.join().unwrap();
        assert_eq!(first, 42);
        assert!(
            matches!(
                after.as_ref().map_err(datahub::Error::kind),
                Err(ErrorKind::Closed { .. })
            ),
            "{after:?}"
        );
    });
}

#[test]
fn a_deadline_bounds_a_wait_as_a_timeout_does() {
    let name = Name::new("api-deadline");
    let mut p = Producer::<u64>::create(
        &ChannelConfig::new(&name.0)
            .capacity(1)
            .overflow(Overflow::Block),
    )
    .unwrap();
    let c = Consumer::<u64>::attach(&name.0).unwrap();
    let begin = Instant::now();
    let none = c.next(begin + Duration::from_millis(60));
    assert!(
        matches!(
            none.as_ref().map_err(datahub::Error::kind),
            Err(ErrorKind::Timeout { .. })
        ),
        "{none:?}"
    );
    assert!(begin.elapsed() >= Duration::from_millis(60));
    // A deadline already passed still takes what is there.
    p.send(1).unwrap();
    assert_eq!(*c.next(Instant::now()).unwrap(), 1);
    // The ring of one is full until the consumer moves: a send with a
    // deadline gives up, and says why.
    p.send_deadline(2, Instant::now()).unwrap();
    let full = p.send_deadline(3, Instant::now() + Duration::from_millis(30));
    assert!(
        matches!(full.as_ref().map_err(datahub::Error::kind), Err(ErrorKind::Timeout { cause, .. }) if cause.contains("ring is full")),
        "{full:?}"
    );
    assert_eq!(*c.next(SECOND).unwrap(), 2);
    assert_eq!(p.send_timeout(3, SECOND).unwrap(), 2);
}

#[test]
fn a_loan_dropped_unwritten_gives_the_slot_back_with_its_older_item() {
    let name = Name::new("api-loan-back");
    let mut p = Producer::<u64>::create(
        &ChannelConfig::new(&name.0)
            .capacity(2)
            .overflow(Overflow::Overwrite),
    )
    .unwrap();
    let c = Consumer::<u64>::attach(&name.0).unwrap();
    p.send(10).unwrap();
    p.send(11).unwrap();
    // Item 2 would reuse item 0's slot: loaned and dropped unwritten, the
    // lagging consumer still reads item 0, and the sequence is not used.
    let loan = p.loan(SECOND).unwrap();
    assert_eq!(loan.seq(), 2);
    drop(loan);
    let item = c.next(SECOND).unwrap();
    assert_eq!((item.seq(), *item, item.lost_before()), (0, 10, 0));
    drop(item);
    assert_eq!(p.send(12).unwrap(), 2);
    let read: Vec<(u64, u64)> = (0..2)
        .map(|_| c.read_with(SECOND, |item| (item.seq(), **item)).unwrap())
        .collect();
    assert_eq!(read, [(1, 11), (2, 12)]);
}

#[test]
fn a_loan_writes_the_item_whole_and_an_acquired_slot_still_holds_older_bytes() {
    let name = Name::new("api-loan-whole");
    let mut p = Producer::<[u32; 4]>::create(&ChannelConfig::new(&name.0).capacity(1)).unwrap();
    let c = Consumer::<[u32; 4]>::attach(&name.0).unwrap();
    p.send([1, 2, 3, 4]).unwrap();
    assert_eq!(*c.next(SECOND).unwrap(), [1, 2, 3, 4]);
    // `acquire` gives the slot as it is: the older item's bytes.
    let slot = p.acquire(SECOND).unwrap();
    assert_eq!(*slot, [1, 2, 3, 4]);
    drop(slot); // aborted
    // `zeroed` starts from zeros, `write` from the value.
    let mut slot = p.loan(SECOND).unwrap().zeroed();
    slot[2] = 7;
    slot.commit();
    assert_eq!(*c.next(SECOND).unwrap(), [0, 0, 7, 0]);
}

#[test]
fn a_bytes_loan_carries_exactly_the_bytes_written_and_refuses_too_many() {
    let name = Name::new("api-loan-bytes");
    let mut p = Producer::<Bytes>::create(&ChannelConfig::new(&name.0).slot_size(8)).unwrap();
    let c = Consumer::<Bytes>::attach(&name.0).unwrap();
    p.send_bytes(b"abcdefgh").unwrap();
    let too_long = p.loan(SECOND).unwrap().write(b"123456789").map(|_| ());
    assert!(
        matches!(
            too_long.as_ref().map_err(datahub::Error::kind),
            Err(ErrorKind::PayloadTooLarge { len: 9, max: 8, .. })
        ),
        "{too_long:?}"
    );
    p.loan(SECOND).unwrap().write(b"xy").unwrap().commit();
    p.loan(SECOND).unwrap().zeroed(3).unwrap().commit();
    let items: Vec<Vec<u8>> = (0..3).map(|_| c.next(SECOND).unwrap().to_vec()).collect();
    assert_eq!(items, [b"abcdefgh".to_vec(), b"xy".to_vec(), vec![0; 3]]);
    assert!(matches!(
        p.send_bytes(&[0; 9]).map_err(datahub::Error::into_kind),
        Err(ErrorKind::PayloadTooLarge { .. })
    ));
}

#[test]
fn the_builder_attaches_with_its_settings() {
    let name = Name::new("api-builder");
    let mut p = Producer::<u64>::create(&ChannelConfig::new(&name.0)).unwrap();
    for v in 0..3 {
        p.send(v).unwrap();
    }
    let builder = Consumer::<u64>::builder(name.0.as_str()).ready_timeout(SECOND);
    let oldest = builder.attach().unwrap();
    let newest = builder.clone().start(Start::Newest).attach().unwrap();
    assert_eq!(*oldest.next(SECOND).unwrap(), 0);
    assert_eq!(*newest.next(SECOND).unwrap(), 2);
    // A wrong type is refused as `attach` refuses it.
    let wrong = Consumer::<u32>::builder(name.0.as_str()).attach();
    assert!(
        matches!(
            wrong.as_ref().map_err(datahub::Error::kind),
            Err(ErrorKind::SchemaMismatch { .. })
        ),
        "{wrong:?}"
    );
}

#[test]
fn the_iterator_reads_every_item_in_order_then_ends_at_close() {
    let name = Name::new("api-iter");
    let mut p = Producer::<u64>::create(&ChannelConfig::new(&name.0).capacity(4)).unwrap();
    let c = Consumer::<u64>::attach(&name.0).unwrap();
    thread::scope(|s| {
        let reader = s.spawn(|| {
            c.iter()
                .map(|item| item.map(|item| (item.seq(), *item)))
                .collect::<Result<Vec<_>, _>>()
        });
        for v in 0..100 {
            p.send(v * 3).unwrap();
        }
        drop(p);
        let read = reader.join().unwrap().unwrap();
        assert_eq!(read, (0..100).map(|q| (q, q * 3)).collect::<Vec<_>>());
    });
}

#[test]
fn an_item_kept_across_the_iterators_steps_is_an_error_then_the_end() {
    let name = Name::new("api-iter-held");
    let mut p = Producer::<u64>::create(&ChannelConfig::new(&name.0)).unwrap();
    let c = Consumer::<u64>::attach(&name.0).unwrap();
    p.send(1).unwrap();
    p.send(2).unwrap();
    let mut it = c.iter();
    let first = it.next().unwrap().unwrap();
    let second = it.next().unwrap();
    assert!(
        matches!(
            second.as_ref().map_err(datahub::Error::kind),
            Err(ErrorKind::ItemHeld { .. })
        ),
        "{second:?}"
    );
    assert!(it.next().is_none(), "fused after an error");
    assert_eq!(*first, 1);
}

#[test]
fn a_read_while_another_thread_waits_on_the_same_consumer_is_refused_and_says_so() {
    let name = Name::new("api-two-readers");
    let mut p = Producer::<u64>::create(&ChannelConfig::new(&name.0)).unwrap();
    let c = Consumer::<u64>::attach(&name.0).unwrap();
    thread::scope(|s| {
        let waiting = s.spawn(|| c.next(Wait::Forever).map(|item| *item));
        thread::sleep(Duration::from_millis(100));
        let refused = c.try_next().map(|item| item.map(|item| *item));
        match refused.as_ref().map_err(datahub::Error::kind) {
            Err(e @ ErrorKind::ItemHeld { held: None, .. }) => {
                assert!(e.to_string().contains("reading in another thread"), "{e}");
            }
            other => panic!("expected ItemHeld without an item: {other:?}"),
        }
        p.send(5).unwrap();
        assert_eq!(waiting.join().unwrap().unwrap(), 5);
    });
}
