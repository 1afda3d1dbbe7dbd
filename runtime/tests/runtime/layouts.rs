//! What the derives accept: nesting, arrays of structs, descriptors that
//! agree with rustc's layout, and marker traits the runtime can demand.

use core::sync::atomic::{AtomicU8, AtomicU32};

use datahub::{
    AtomicF32, DataHubSlot, DataHubType, DataHubZone, FieldDesc, Prim, TypeDesc, canonical_of,
};

mod wire {
    /// A type from another module, named by path in a field.
    #[derive(Clone, Copy, datahub::DataHubSlot)]
    #[repr(C)]
    pub(crate) struct Stamp {
        pub(crate) sec: u32,
        pub(crate) nsec: u32,
    }
}

#[derive(Clone, Copy, DataHubSlot)]
#[repr(C)]
struct Track {
    stamps: [wire::Stamp; 3],
    kind: u8,
    _pad0: [u8; 3],
    gain: f32,
}

#[derive(DataHubZone)]
#[repr(C)]
struct Lane {
    hits: AtomicU32,
    level: AtomicF32,
}

#[derive(DataHubZone)]
#[repr(C)]
struct Board {
    lanes: [Lane; 2],
    mode: AtomicU8,
    _pad0: [AtomicU8; 7],
    totals: [core::sync::atomic::AtomicI64; 1],
}

fn needs_slot<T: DataHubSlot>() -> String {
    canonical_of::<T>()
}

fn needs_zone<T: DataHubZone>() -> String {
    canonical_of::<T>()
}

#[test]
fn arrays_of_derived_structs_nest_inline_in_the_canonical_form() {
    assert_eq!(
        needs_slot::<Track>(),
        "{32/4:stamps:[{8/4:sec:u32@0,nsec:u32@4};3]@0,kind:u8@24,_pad0:[u8;3]@25,gain:f32@28}"
    );
    assert_eq!(
        needs_zone::<Board>(),
        "{32/8:lanes:[{8/4:hits:atomic_u32@0,level:atomic_f32@4};2]@0,mode:atomic_u8@16,\
         _pad0:[atomic_u8;7]@17,totals:[atomic_i64;1]@24}"
    );
}

#[test]
fn the_descriptor_is_a_const_tree_with_rustc_offsets() {
    const DESC: &TypeDesc = <wire::Stamp as DataHubType>::DESC;
    let TypeDesc::Struct {
        size,
        align,
        fields,
    } = *DESC
    else {
        panic!("a struct descriptor");
    };
    assert_eq!((size, align), (8, 4));
    assert_eq!(
        fields,
        [
            FieldDesc {
                name: "sec",
                ty: &TypeDesc::Prim(Prim::U32),
                offset: 0
            },
            FieldDesc {
                name: "nsec",
                ty: &TypeDesc::Prim(Prim::U32),
                offset: 4
            },
        ]
    );
    assert_eq!(DESC.size(), core::mem::size_of::<wire::Stamp>());
}

#[test]
fn every_hash_is_the_blake2_hash_of_the_canonical_form() {
    fn agree<T: DataHubType>() {
        assert_eq!(
            T::SCHEMA_HASH,
            datahub::SchemaHash::of_type_canon(&canonical_of::<T>())
        );
    }
    agree::<Track>();
    agree::<Board>();
    agree::<[Board; 3]>();
    agree::<wire::Stamp>();
}

#[test]
fn derived_values_are_ordinary_structs() {
    let t = Track {
        stamps: [wire::Stamp { sec: 1, nsec: 2 }; 3],
        kind: 1,
        _pad0: [0; 3],
        gain: 0.5,
    };
    let copy = t;
    assert_eq!(copy.stamps[2].nsec + t.kind as u32, 3);
    let b = Board {
        lanes: [
            Lane {
                hits: AtomicU32::new(0),
                level: AtomicF32::new(0.0),
            },
            Lane {
                hits: AtomicU32::new(1),
                level: AtomicF32::default(),
            },
        ],
        mode: AtomicU8::new(0),
        _pad0: Default::default(),
        totals: Default::default(),
    };
    b.lanes[1]
        .hits
        .fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let [first, second] = b.lanes;
    assert_eq!(
        second.hits.into_inner() + first.level.into_inner() as u32,
        2
    );
    let _ = (b.mode, b.totals);
}
