//! The Python extension's global allocator: mimalloc for small blocks, the system allocator for
//! the rest.
//!
//! Folding allocates and frees many short-lived small blocks (keys, scalars, event payloads,
//! pieces of text); mimalloc's thread-local free lists serve those with fewer instructions and
//! less cache traffic than glibc malloc. Up to [`SMALL_MAX`] bytes its size classes waste, on
//! average, no more than glibc's 8-byte header and 16-byte rounding; above, they are 64 bytes
//! and more apart, which a parser's long-lived state pays in every one of the many parsers a
//! server keeps alive (benches/memory.py: 10,000 parsers took 0.8 MB more with blocks up to 32
//! KiB in mimalloc, over the 18.8 MB `tests/test_parser_size.py` allows). And a growing text (a
//! 200 KB tool argument) would be copied on each growth and its old blocks kept resident, where
//! glibc grows it in place through `mremap` (issue 13's peak-RSS case).
//! So each block goes to one allocator by its size, which `GlobalAlloc` is handed again on
//! `dealloc` and `realloc`: a block never meets the other allocator, and a `realloc` across
//! the line moves it by copy.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::c_void;

use mimalloc::MiMalloc;

// mimalloc's unaligned entry points, which `MiMalloc` does not use: it asks for every block
// through the aligned ones. Those serve a block from the size class's free list only while
// the list holds one; otherwise (a fifth of a fold's allocations, the Gemini bench measured)
// they take a generic path that, for a size that is not a power of two, over-allocates by the
// alignment and costs about 150 instructions more. Linked from the same library `MiMalloc`
// links (libmimalloc-sys).
extern "C" {
    fn mi_malloc(size: usize) -> *mut c_void;
    fn mi_zalloc(size: usize) -> *mut c_void;
    fn mi_realloc(p: *mut c_void, newsize: usize) -> *mut c_void;
}

/// The alignment every mimalloc block has unasked: its size classes are whole words, and
/// its pages start aligned to more. A block of no greater alignment comes from the unaligned
/// entry points (a block keeps its layout's alignment for life, so it always takes the same
/// side of this test).
const WORD: usize = std::mem::size_of::<usize>();

fn word_aligned(layout: Layout) -> bool {
    layout.align() <= WORD
}

/// Blocks of at most this many bytes come from mimalloc, larger ones from the system
/// allocator.
pub const SMALL_MAX: usize = 256;

/// mimalloc up to [`SMALL_MAX`] bytes, the system allocator above.
pub struct SplitHeap;

fn is_large(size: usize) -> bool {
    size > SMALL_MAX
}

// SAFETY: every method forwards to one of two allocators that uphold `GlobalAlloc`, chosen by
// the block's size alone; `dealloc` and `realloc` are given the size the block was allocated
// with, so a block is always returned to the allocator that made it.
unsafe impl GlobalAlloc for SplitHeap {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract (non-zero size) is passed on unchanged; `mi_malloc`
        // gets only layouts its word-aligned blocks meet.
        unsafe {
            if is_large(layout.size()) {
                System.alloc(layout)
            } else if word_aligned(layout) {
                mi_malloc(layout.size()).cast()
            } else {
                MiMalloc.alloc(layout)
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        unsafe {
            if is_large(layout.size()) {
                System.alloc_zeroed(layout)
            } else if word_aligned(layout) {
                mi_zalloc(layout.size()).cast()
            } else {
                MiMalloc.alloc_zeroed(layout)
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated with `layout`, so by the allocator its size picks
        // (`MiMalloc.dealloc` is `mi_free`, which frees a block of any mimalloc entry point).
        unsafe {
            if is_large(layout.size()) {
                System.dealloc(ptr, layout);
            } else {
                MiMalloc.dealloc(ptr, layout);
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let large = is_large(layout.size());
        if large == is_large(new_size) {
            // SAFETY: the block stays with the allocator that made it (see `dealloc`); a
            // word-aligned layout's block came from `mi_malloc`, `mi_zalloc` or `mi_realloc`,
            // and `mi_realloc` keeps it word-aligned.
            return unsafe {
                if large {
                    System.realloc(ptr, layout, new_size)
                } else if word_aligned(layout) {
                    mi_realloc(ptr.cast(), new_size).cast()
                } else {
                    MiMalloc.realloc(ptr, layout, new_size)
                }
            };
        }
        // SAFETY: `realloc`'s contract makes `new_size` with this alignment a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_size` is non-zero (the contract); the copy stays within both blocks,
        // which are distinct, and the old block is freed with its own layout.
        unsafe {
            let moved = self.alloc(new_layout);
            if !moved.is_null() {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            moved
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{SplitHeap, SMALL_MAX};
    use std::alloc::{GlobalAlloc, Layout};

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// Grows a block from mimalloc's side of the split to the system allocator's and shrinks
    /// it back, at the alignments a fold uses and one page-sized: the bytes must survive each
    /// move between the allocators, and the block must come back aligned.
    #[test]
    fn realloc_across_the_split_keeps_the_bytes() {
        for align in [1, 2, 4, 8, 16, 4096] {
            for (small, large) in [
                (1, SMALL_MAX + 1),
                (SMALL_MAX, SMALL_MAX + 1),
                (100, 20_000),
            ] {
                let want = pattern(small);
                // SAFETY: non-zero sizes, power-of-two alignments; each block is written and
                // read within its size and freed with the layout it has then.
                unsafe {
                    let layout = Layout::from_size_align(small, align).unwrap();
                    let p = SplitHeap.alloc(layout);
                    assert!(!p.is_null());
                    std::ptr::copy_nonoverlapping(want.as_ptr(), p, small);
                    let q = SplitHeap.realloc(p, layout, large);
                    assert!(!q.is_null());
                    assert_eq!(q as usize % align, 0);
                    assert_eq!(std::slice::from_raw_parts(q, small), &want[..]);
                    let grown = Layout::from_size_align(large, align).unwrap();
                    std::ptr::write_bytes(q.add(small), 0xAB, large - small);
                    let r = SplitHeap.realloc(q, grown, small);
                    assert!(!r.is_null());
                    assert_eq!(r as usize % align, 0);
                    assert_eq!(std::slice::from_raw_parts(r, small), &want[..]);
                    SplitHeap.dealloc(r, layout);
                }
            }
        }
    }

    /// Zeroed blocks on both sides of the split read as zeros.
    #[test]
    fn alloc_zeroed_is_zero_on_both_sides() {
        for size in [1, SMALL_MAX, SMALL_MAX + 1, 20_000] {
            // SAFETY: a non-zero size; read within it, freed with its layout.
            unsafe {
                let layout = Layout::from_size_align(size, 8).unwrap();
                let p = SplitHeap.alloc_zeroed(layout);
                assert!(!p.is_null());
                assert!(std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0));
                SplitHeap.dealloc(p, layout);
            }
        }
    }

    /// Word-aligned small blocks (from `mi_malloc`, grown and shrunk by `mi_realloc`) and
    /// 16-aligned ones (mimalloc's aligned entry points) at every size up to the split, many
    /// live at once so that size classes run out of free blocks: each block is aligned, keeps
    /// its bytes through each resize, and is freed with its layout.
    #[test]
    fn small_blocks_keep_alignment_and_bytes() {
        for align in [1, 2, 4, 8, 16] {
            let mut live = Vec::new();
            for round in 0..4 {
                for size in (align..=SMALL_MAX).step_by(align) {
                    let layout = Layout::from_size_align(size, align).unwrap();
                    let want = pattern(size + round);
                    // SAFETY: a non-zero size and a power-of-two alignment; written within it.
                    let p = unsafe {
                        let p = if round % 2 == 0 {
                            SplitHeap.alloc(layout)
                        } else {
                            SplitHeap.alloc_zeroed(layout)
                        };
                        assert!(!p.is_null());
                        assert_eq!(p as usize % align, 0);
                        std::ptr::copy_nonoverlapping(want.as_ptr(), p, size);
                        p
                    };
                    live.push((p, layout, want));
                }
            }
            for (p, layout, want) in live {
                let size = layout.size();
                let grown = (size * 2).min(SMALL_MAX).max(size);
                let shrunk = (size / 2).max(align);
                // SAFETY: each block is resized with the layout it has, read within the size
                // both layouts share, and freed with its last layout.
                unsafe {
                    let q = SplitHeap.realloc(p, layout, grown);
                    assert!(!q.is_null());
                    assert_eq!(q as usize % align, 0);
                    assert_eq!(std::slice::from_raw_parts(q, size), &want[..size]);
                    let grown_layout = Layout::from_size_align(grown, align).unwrap();
                    let r = SplitHeap.realloc(q, grown_layout, shrunk);
                    assert!(!r.is_null());
                    assert_eq!(r as usize % align, 0);
                    assert_eq!(std::slice::from_raw_parts(r, shrunk), &want[..shrunk]);
                    SplitHeap.dealloc(r, Layout::from_size_align(shrunk, align).unwrap());
                }
            }
        }
    }
}
