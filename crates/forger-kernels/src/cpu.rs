//! The process's CPU set-up for training: Candle's thread count and
//! glibc's malloc settings.

/// Process-wide CPU settings for training; binaries call this first thing
/// in `main`, before any tensor op and before starting threads.
///
/// * Candle's element-wise ops run on the calling thread
///   (`CANDLE_NUM_THREADS=1`, unless it is set already). The heavy work
///   (convolutions, matmuls) runs on rayon's pool, and Candle runs its
///   element-wise ops on a second, private pool whose workers spin for a
///   while after each op and whose caller spins until they finish; those
///   spinners take cores from rayon's. On 2 cores, one Candle thread made
///   W2 and W3 of `cargo xtask bench` about 20% faster.
/// * glibc's malloc keeps freed memory instead of returning it to the
///   system at once: a training step allocates and frees the same
///   megabyte-sized buffers every step, and returning them costs a page
///   fault per 4 KiB page each time they come back (about 10% of a W3 step).
pub fn configure_cpu() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before
    // other threads start, as documented above.
    unsafe {
        // Blocks up to 32 MiB (glibc's maximum) from the heap, not mmap;
        // trim the heap only when 1 GiB lies free at its top.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}
