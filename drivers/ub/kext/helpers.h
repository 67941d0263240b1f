/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Forwarders for what bindgen cannot see; see helpers_blk.c and helpers_usb.c. The Rust side declares
 * the same functions in drivers/ub/kext/ffi.rs.
 */
#ifndef UB_HELPERS_H
#define UB_HELPERS_H

#include <linux/blk_types.h>
#include <linux/types.h>

struct blk_mq_tag_set;
struct block_device_operations;
struct device;
struct gendisk;
struct queue_limits;
struct request;
struct scatterlist;
struct usb_interface;

int ub_disk_index_alloc(void);
void ub_disk_index_free(int index);
/*
 * A disk's private_data: the Rust owner of the disk and its callbacks (struct Hooks
 * in drivers/ub/kext/blk/hooks.rs, which must match: the module refuses to load
 * when the offsets ub_disk_hooks_layout() reports differ from its own).
 */
struct ub_disk_hooks {
	const void *owner;
	int (*open)(const void *owner, struct gendisk *disk, bool ndelay);
	unsigned int (*check_events)(const void *owner);
	int (*eject)(const void *owner);
	int (*lock_door)(const void *owner, bool lock);
	int (*sg_io)(const void *owner, unsigned long arg, bool compat, unsigned int max_bytes);
	void (*release)(struct ub_disk_hooks *hooks);
	/* The LUN's identification, for the disk's ub/ attributes; set before add. */
	struct ub_lun_ident {
		char vendor[9];
		char model[17];
		char rev[5];
		char serial[65];
		u8 lun;
	} ident;
	/* The most ub/max_sectors accepts. */
	unsigned int max_sectors_cap;
	/* The disk's index (its name and minors), -1 before it has one. */
	int index;
};

const struct block_device_operations *ub_disk_fops(void);
const size_t *ub_disk_hooks_layout(unsigned int *n);
const struct attribute_group **ub_disk_attr_groups(void);
struct gendisk *ub_blk_mq_alloc_disk(struct blk_mq_tag_set *set,
				     struct queue_limits *lim, void *queuedata);
sector_t ub_blk_rq_pos(const struct request *rq);
unsigned int ub_blk_rq_bytes(const struct request *rq);
unsigned int ub_req_op(const struct request *rq);
bool ub_req_fua(const struct request *rq);
int ub_blk_rq_map_sg(struct request *rq, struct scatterlist *sglist);
void *ub_rq_queuedata(const struct request *rq);
unsigned int ub_rq_timeout_ms(const struct request *rq);
void ub_rq_time_from_submission(struct request *rq);
void ub_rq_set_timeout_ms(struct request *rq, unsigned int ms);
blk_status_t ub_errno_to_blk_status(int err);
void ub_limits_set_write_cache(struct queue_limits *lim, bool fua);
void ub_limits_set_rotational(struct queue_limits *lim);
int ub_disk_set_write_cache(struct gendisk *disk, bool on, bool fua);
unsigned int ub_noio_save(void);
void ub_noio_restore(unsigned int flags);
bool ub_noio_active(void);
int ub_usb_port_reset(struct usb_interface *intf);
size_t ub_quirks_param(char *buf, size_t len);
const struct attribute_group **ub_intf_attr_groups(unsigned int n_stats,
						   const char *(*stat_name)(unsigned int),
						   unsigned int n_knobs,
						   const char *(*knob_name)(unsigned int));
int ub_values_set(struct usb_interface *intf, unsigned int table, const void *owner,
		  u64 (*read)(const void *owner, unsigned int index),
		  int (*write)(const void *owner, unsigned int index, unsigned int value),
		  void (*release)(const void *owner));
void ub_dbg_cbw(struct usb_interface *intf, u32 tag, u8 lun, u8 opcode, u32 len,
		bool in);
void ub_dbg_data(struct usb_interface *intf, u32 tag, u32 len, size_t moved,
		 int status);
void ub_dbg_csw(struct usb_interface *intf, u32 tag, u32 residue, u8 status);
void ub_dbg_error(struct usb_interface *intf, u32 tag, const char *stage,
		  int slen, const char *fault, int flen);
int ub_ident_set(struct usb_interface *intf, const char *vendor, size_t vlen,
		 const char *model, size_t mlen, const char *rev, size_t rlen,
		 const char *quirks, size_t qlen);
int ub_ident_set_quirks(struct usb_interface *intf, const char *quirks,
			size_t qlen);

#endif
