//! A sparse RAM disk: 4 KiB chunks of the byte address space, allocated on the
//! first non-zero write. Unwritten space reads as zeros, so a disk of 2^33
//! blocks costs nothing until it is written. Optionally with a volatile write
//! cache in front: writes stay in it until a SYNCHRONIZE CACHE, and a loss of
//! power (the device suspended: [`POWER_LOST`]) throws them away.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

const CHUNK: u64 = 4096;

type Chunks = HashMap<u64, Box<[u8; CHUNK as usize]>>;

/// Set when the host suspended the device: a device that loses power in
/// suspend (bus power cut, port power off) comes back without its cache.
pub static POWER_LOST: AtomicBool = AtomicBool::new(false);

pub struct RamDisk {
    blocks: u64,
    block_size: u32,
    chunks: Chunks,
    /// The volatile write cache: chunks written since the last flush.
    cache: Option<Chunks>,
}

impl RamDisk {
    pub fn new(blocks: u64, block_size: u32) -> RamDisk {
        RamDisk {
            blocks,
            block_size,
            chunks: HashMap::new(),
            cache: None,
        }
    }

    /// The disk with a volatile write cache in front of it.
    pub fn with_volatile_cache(mut self) -> RamDisk {
        self.cache = Some(HashMap::new());
        self
    }

    /// SYNCHRONIZE CACHE: what the cache holds goes to the medium.
    pub fn flush(&mut self) {
        let Some(cache) = self.cache.take() else {
            return;
        };
        for (index, c) in &cache {
            self.store(index * CHUNK, &c[..]);
        }
        self.cache = Some(HashMap::new());
    }

    /// Power is lost: the cache's contents are gone. Returns the chunks lost.
    pub fn lose_cache(&mut self) -> usize {
        self.cache.as_mut().map_or(0, |c| {
            let n = c.len();
            c.clear();
            n
        })
    }

    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// Allocated chunks.
    #[cfg(test)]
    pub fn allocated_chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Copies the bytes at byte offset `addr` into `buf`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            let at = addr + done as u64;
            let (index, off) = (at / CHUNK, (at % CHUNK) as usize);
            let n = (CHUNK as usize - off).min(buf.len() - done);
            let dst = &mut buf[done..done + n];
            let cached = self.cache.as_ref().and_then(|c| c.get(&index));
            match cached.or_else(|| self.chunks.get(&index)) {
                Some(c) => dst.copy_from_slice(&c[off..off + n]),
                None => dst.fill(0),
            }
            done += n;
        }
    }

    /// Writes `data` at byte offset `addr`: into the cache if there is one,
    /// onto the medium otherwise.
    pub fn write(&mut self, addr: u64, data: &[u8]) {
        let Some(mut cache) = self.cache.take() else {
            return self.store(addr, data);
        };
        let mut done = 0;
        while done < data.len() {
            let at = addr + done as u64;
            let (index, off) = (at / CHUNK, (at % CHUNK) as usize);
            let n = (CHUNK as usize - off).min(data.len() - done);
            let c = cache.entry(index).or_insert_with(|| {
                let mut c = Box::new([0u8; CHUNK as usize]);
                if let Some(old) = self.chunks.get(&index) {
                    c.copy_from_slice(&old[..]);
                }
                c
            });
            c[off..off + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        self.cache = Some(cache);
    }

    /// Stores `data` at byte offset `addr` on the medium. Zeros written over
    /// unallocated space allocate nothing; a chunk that becomes all zeros is freed.
    fn store(&mut self, addr: u64, data: &[u8]) {
        let mut done = 0;
        while done < data.len() {
            let at = addr + done as u64;
            let (index, off) = (at / CHUNK, (at % CHUNK) as usize);
            let n = (CHUNK as usize - off).min(data.len() - done);
            let src = &data[done..done + n];
            let zero = src.iter().all(|&b| b == 0);
            match self.chunks.get_mut(&index) {
                Some(c) => {
                    c[off..off + n].copy_from_slice(src);
                    if zero && c.iter().all(|&b| b == 0) {
                        self.chunks.remove(&index);
                    }
                }
                None if zero => {}
                None => {
                    let mut c = Box::new([0u8; CHUNK as usize]);
                    c[off..off + n].copy_from_slice(src);
                    self.chunks.insert(index, c);
                }
            }
            done += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwritten_reads_zero_and_writes_read_back_across_chunks() {
        let mut d = RamDisk::new(1 << 33, 512);
        let mut buf = vec![0xffu8; 10000];
        d.read((1 << 42) - 5000, &mut buf);
        assert!(buf.iter().all(|&b| b == 0));
        let data: Vec<u8> = (0..10000u32).map(|i| (i % 251) as u8 + 1).collect();
        d.write(4095, &data);
        assert_eq!(d.allocated_chunks(), 4);
        let mut back = vec![0u8; 10002];
        d.read(4094, &mut back);
        assert_eq!(back[0], 0);
        assert_eq!(&back[1..10001], &data[..]);
        assert_eq!(back[10001], 0);
    }

    #[test]
    fn volatile_cache_keeps_writes_until_flushed_and_loses_them_with_power() {
        let mut d = RamDisk::new(100, 512).with_volatile_cache();
        d.write(0, &[1u8; 5000]);
        d.flush();
        d.write(4000, &[2u8; 200]);
        let mut back = vec![0u8; 5000];
        d.read(0, &mut back);
        assert!(back[..4000].iter().all(|&b| b == 1));
        assert!(back[4000..4200].iter().all(|&b| b == 2));
        assert_eq!(d.lose_cache(), 2);
        d.read(0, &mut back);
        assert!(back.iter().all(|&b| b == 1), "the flushed data stays");
        // Without a cache nothing is lost.
        let mut d = RamDisk::new(100, 512);
        d.write(0, &[3u8; 10]);
        assert_eq!(d.lose_cache(), 0);
        d.read(0, &mut back[..10]);
        assert_eq!(&back[..10], &[3u8; 10]);
    }

    #[test]
    fn zeros_allocate_nothing_and_free_chunks() {
        let mut d = RamDisk::new(100, 512);
        d.write(0, &[0u8; 8192]);
        assert_eq!(d.allocated_chunks(), 0);
        d.write(100, &[1, 2, 3]);
        assert_eq!(d.allocated_chunks(), 1);
        d.write(0, &[0u8; 4096]);
        assert_eq!(d.allocated_chunks(), 0);
    }
}
