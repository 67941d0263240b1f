/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Forwarders for what bindgen cannot see; see helpers.c. The Rust side declares
 * the same functions in drivers/ub/ffi.rs.
 */
#ifndef UB_HELPERS_H
#define UB_HELPERS_H

#include <linux/blk_types.h>
#include <linux/types.h>

struct blk_mq_tag_set;
struct block_device_operations;
struct gendisk;
struct queue_limits;
struct request;
struct scatterlist;
struct usb_interface;

int ub_disk_index_alloc(void);
void ub_disk_index_free(int index);
/*
 * A disk's private_data: the Rust owner of the disk and its callbacks (struct Hooks
 * in drivers/ub/blk.rs, which must match).
 */
struct ub_disk_hooks {
	const void *owner;
	int (*open)(const void *owner, struct gendisk *disk, bool ndelay);
	unsigned int (*check_events)(const void *owner);
	int (*eject)(const void *owner);
	int (*lock_door)(const void *owner, bool lock);
	void (*release)(struct ub_disk_hooks *hooks);
};

const struct block_device_operations *ub_disk_fops(void);
struct gendisk *ub_blk_mq_alloc_disk(struct blk_mq_tag_set *set,
				     struct queue_limits *lim, void *queuedata);
sector_t ub_blk_rq_pos(const struct request *rq);
unsigned int ub_blk_rq_bytes(const struct request *rq);
unsigned int ub_req_op(const struct request *rq);
int ub_blk_rq_map_sg(struct request *rq, struct scatterlist *sglist);
void *ub_rq_queuedata(const struct request *rq);
blk_status_t ub_errno_to_blk_status(int err);
void ub_limits_set_write_cache(struct queue_limits *lim);
unsigned int ub_noio_save(void);
void ub_noio_restore(unsigned int flags);
int ub_usb_port_reset(struct usb_interface *intf);
size_t ub_quirks_param(char *buf, size_t len);
const struct attribute_group **ub_ident_attr_groups(void);
int ub_ident_set(struct usb_interface *intf, const char *vendor, size_t vlen,
		 const char *model, size_t mlen, const char *rev, size_t rlen);

#endif
