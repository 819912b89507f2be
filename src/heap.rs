//! The kernel heap: linked_list_allocator over the `.heap` region the linker script
//! reserves inside the kernel image (memory the kernel owns from the first instruction).

use core::sync::atomic::{AtomicBool, Ordering};

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

unsafe extern "C" {
    static mut __heap_start: u8;
    static __heap_end: u8;
}

static INITIALISED: AtomicBool = AtomicBool::new(false);

/// Hand the heap region to the allocator; returns (start, size). Panics if called twice.
pub fn init() -> (usize, usize) {
    assert!(
        !INITIALISED.swap(true, Ordering::AcqRel),
        "heap initialised twice"
    );
    let start = &raw mut __heap_start;
    let size = &raw const __heap_end as usize - start as usize;
    // SAFETY: the linker script reserves [__heap_start, __heap_end) for the heap and
    // nothing else refers to it; the flag above makes this the only initialisation.
    unsafe { HEAP.lock().init(start, size) };
    (start as usize, size)
}

/// Bytes currently allocated.
pub fn used() -> usize {
    HEAP.lock().used()
}
