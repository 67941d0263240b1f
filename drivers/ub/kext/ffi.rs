// SPDX-License-Identifier: GPL-2.0

//! The C functions bundled in `ub.ko` (`usbcore_sg/usbcore_sg.c`,
//! `drivers/ub/kext/helpers_blk.c` and `helpers_usb.c`): what bindgen cannot
//! see (static inlines, macros, `hcd.h`). Only the kernel layer (`kext/`,
//! `usbcore_sg/sg.rs`) uses them.

use kernel::{bindings, ffi};

// `improper_ctypes` fires on pointers to bindgen structs that contain zero-sized
// members deep inside (`usb_device`, `request`); these are opaque to Rust here and
// only passed through, so their layout does not matter on this side.
#[allow(improper_ctypes)]
extern "C" {
    // usbcore_sg/usbcore_sg.c
    pub(crate) fn usb_sg_premappable(dev: *const bindings::usb_device) -> bool;
    pub(crate) fn usb_sg_in_order_rings(dev: *const bindings::usb_device) -> bool;
    pub(crate) fn usb_sg_max_mapping_size(dev: *const bindings::usb_device) -> usize;
    pub(crate) fn usb_sg_allow_any_segment_size(dev: *const bindings::usb_device);
    pub(crate) fn usb_buffer_map_sg(
        dev: *const bindings::usb_device,
        is_in: ffi::c_int,
        sg: *mut bindings::scatterlist,
        nents: ffi::c_int,
    ) -> ffi::c_int;
    pub(crate) fn usb_buffer_unmap_sg(
        dev: *const bindings::usb_device,
        is_in: ffi::c_int,
        sg: *mut bindings::scatterlist,
        n_hw_ents: ffi::c_int,
    );
    pub(crate) fn usb_sg_mark_premapped(io: *mut bindings::usb_sg_request, mapped: ffi::c_int);
    pub(crate) fn usb_sg_bulk_pipe(dev: *mut bindings::usb_device, address: u8) -> ffi::c_uint;
    pub(crate) fn usb_sg_ctrl_pipe(dev: *mut bindings::usb_device, is_in: bool) -> ffi::c_uint;
    pub(crate) fn usb_sg_pipe_endpoint(pipe: ffi::c_uint) -> u8;

    // drivers/ub/kext/helpers_blk.c and helpers_usb.c
    pub(crate) fn ub_disk_index_alloc() -> ffi::c_int;
    pub(crate) fn ub_disk_index_free(index: ffi::c_int);
    pub(crate) fn ub_disk_fops() -> *const bindings::block_device_operations;
    pub(crate) fn ub_disk_hooks_layout(n: *mut ffi::c_uint) -> *const usize;
    pub(crate) fn ub_disk_attr_groups() -> *mut *const bindings::attribute_group;
    pub(crate) fn ub_blk_mq_alloc_disk(
        set: *mut bindings::blk_mq_tag_set,
        lim: *mut bindings::queue_limits,
        queuedata: *mut ffi::c_void,
    ) -> *mut bindings::gendisk;
    pub(crate) fn ub_blk_rq_pos(rq: *const bindings::request) -> bindings::sector_t;
    pub(crate) fn ub_blk_rq_bytes(rq: *const bindings::request) -> ffi::c_uint;
    pub(crate) fn ub_req_op(rq: *const bindings::request) -> ffi::c_uint;
    pub(crate) fn ub_req_fua(rq: *const bindings::request) -> bool;
    pub(crate) fn ub_blk_rq_map_sg(
        rq: *mut bindings::request,
        sglist: *mut bindings::scatterlist,
    ) -> ffi::c_int;
    pub(crate) fn ub_rq_queuedata(rq: *const bindings::request) -> *mut ffi::c_void;
    pub(crate) fn ub_rq_timeout_ms(rq: *const bindings::request) -> ffi::c_uint;
    pub(crate) fn ub_rq_time_from_submission(rq: *mut bindings::request);
    pub(crate) fn ub_rq_set_timeout_ms(rq: *mut bindings::request, ms: ffi::c_uint);
    pub(crate) fn ub_errno_to_blk_status(err: ffi::c_int) -> bindings::blk_status_t;
    pub(crate) fn ub_limits_set_write_cache(lim: *mut bindings::queue_limits, fua: bool);
    pub(crate) fn ub_limits_set_rotational(lim: *mut bindings::queue_limits);
    pub(crate) fn ub_disk_set_write_cache(
        disk: *mut bindings::gendisk,
        on: bool,
        fua: bool,
    ) -> ffi::c_int;
    pub(crate) fn ub_noio_save() -> ffi::c_uint;
    pub(crate) fn ub_noio_restore(flags: ffi::c_uint);
    pub(crate) fn ub_noio_active() -> bool;
    pub(crate) fn ub_usb_port_reset(intf: *mut bindings::usb_interface) -> ffi::c_int;
    pub(crate) fn ub_quirks_param(buf: *mut ffi::c_char, len: usize) -> usize;
    pub(crate) fn ub_intf_attr_groups(
        n_stats: ffi::c_uint,
        stat_name: extern "C" fn(ffi::c_uint) -> *const ffi::c_char,
        n_knobs: ffi::c_uint,
        knob_name: extern "C" fn(ffi::c_uint) -> *const ffi::c_char,
    ) -> *mut *const bindings::attribute_group;
    pub(crate) fn ub_values_set(
        intf: *mut bindings::usb_interface,
        table: ffi::c_uint,
        owner: *const ffi::c_void,
        read: unsafe extern "C" fn(*const ffi::c_void, ffi::c_uint) -> u64,
        write: Option<
            unsafe extern "C" fn(*const ffi::c_void, ffi::c_uint, ffi::c_uint) -> ffi::c_int,
        >,
        release: unsafe extern "C" fn(*const ffi::c_void),
    ) -> ffi::c_int;
    pub(crate) fn ub_dbg_cbw(
        intf: *mut bindings::usb_interface,
        tag: u32,
        lun: u8,
        opcode: u8,
        len: u32,
        is_in: bool,
    );
    pub(crate) fn ub_dbg_data(
        intf: *mut bindings::usb_interface,
        tag: u32,
        len: u32,
        moved: usize,
        status: ffi::c_int,
    );
    pub(crate) fn ub_dbg_csw(
        intf: *mut bindings::usb_interface,
        tag: u32,
        residue: u32,
        status: u8,
    );
    pub(crate) fn ub_dbg_error(
        intf: *mut bindings::usb_interface,
        tag: u32,
        stage: *const ffi::c_char,
        slen: ffi::c_int,
        fault: *const ffi::c_char,
        flen: ffi::c_int,
    );
    pub(crate) fn ub_ident_set(
        intf: *mut bindings::usb_interface,
        vendor: *const ffi::c_char,
        vlen: usize,
        model: *const ffi::c_char,
        mlen: usize,
        rev: *const ffi::c_char,
        rlen: usize,
        quirks: *const ffi::c_char,
        qlen: usize,
    ) -> ffi::c_int;
    pub(crate) fn ub_ident_set_quirks(
        intf: *mut bindings::usb_interface,
        quirks: *const ffi::c_char,
        qlen: usize,
    ) -> ffi::c_int;
}
