//! A sparse RAM disk: 4 KiB chunks of the byte address space, allocated on the
//! first non-zero write. Unwritten space reads as zeros, so a disk of 2^33
//! blocks costs nothing until it is written.

use std::collections::HashMap;

const CHUNK: u64 = 4096;

pub struct RamDisk {
    blocks: u64,
    block_size: u32,
    chunks: HashMap<u64, Box<[u8; CHUNK as usize]>>,
}

impl RamDisk {
    pub fn new(blocks: u64, block_size: u32) -> RamDisk {
        RamDisk {
            blocks,
            block_size,
            chunks: HashMap::new(),
        }
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
            match self.chunks.get(&index) {
                Some(c) => dst.copy_from_slice(&c[off..off + n]),
                None => dst.fill(0),
            }
            done += n;
        }
    }

    /// Stores `data` at byte offset `addr`. Zeros written over unallocated
    /// space allocate nothing; a chunk that becomes all zeros is freed.
    pub fn write(&mut self, addr: u64, data: &[u8]) {
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
