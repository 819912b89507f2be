//! The kernel heap: linked_list_allocator over the `.heap` region the linker script
//! reserves inside the kernel image (memory the kernel owns from the first instruction).

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use linked_list_allocator::LockedHeap;

/// linked_list_allocator with a high-water mark of the bytes allocated at once.
struct PeakTracking {
    heap: LockedHeap,
    peak: AtomicUsize,
}

// SAFETY: every call is passed on unchanged to LockedHeap, a GlobalAlloc; the peak is
// bookkeeping only.
unsafe impl GlobalAlloc for PeakTracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { self.heap.alloc(layout) };
        if !p.is_null() {
            self.peak
                .fetch_max(self.heap.lock().used(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { self.heap.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static HEAP: PeakTracking = PeakTracking {
    heap: LockedHeap::empty(),
    peak: AtomicUsize::new(0),
};

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
    unsafe { HEAP.heap.lock().init(start, size) };
    (start as usize, size)
}

/// Bytes currently allocated.
pub fn used() -> usize {
    HEAP.heap.lock().used()
}

/// The most bytes ever allocated at once.
pub fn peak() -> usize {
    HEAP.peak.load(Ordering::Relaxed)
}
