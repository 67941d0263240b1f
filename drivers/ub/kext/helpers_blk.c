// SPDX-License-Identifier: GPL-2.0
/*
 * The block side of what the Rust side of ub cannot reach through bindgen: static
 * inline block-layer helpers, the blk_mq_alloc_disk() macro (it owns a lockdep
 * class), the disk index allocator, the block_device_operations table (it needs
 * THIS_MODULE so that an open disk pins the module) and the disk's ub/ sysfs
 * attributes. Each is a line or two of forwarding; the logic is in Rust
 * (drivers/ub/kext/blk/).
 */

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/cdrom.h>
#include <linux/compat.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/uaccess.h>
#include <scsi/sg.h>

#include "helpers.h"

static DEFINE_IDA(ub_disk_ida);

int ub_disk_index_alloc(void)
{
	return ida_alloc(&ub_disk_ida, GFP_KERNEL);
}

void ub_disk_index_free(int index)
{
	ida_free(&ub_disk_ida, index);
}

static int ub_open(struct gendisk *disk, blk_mode_t mode)
{
	const struct ub_disk_hooks *h = disk->private_data;

	return h->open(h->owner, disk, mode & BLK_OPEN_NDELAY);
}

static unsigned int ub_check_events(struct gendisk *disk, unsigned int clearing)
{
	const struct ub_disk_hooks *h = disk->private_data;

	return h->check_events(h->owner);
}

/* The SG driver version sg3_utils checks for (3.5.27, as the block layer reports). */
#define UB_SG_VERSION		30527

/*
 * kext/blk/passthrough.rs mirrors struct sg_io_hdr, a user-space ABI bindgen
 * leaves opaque, in two parts: what the caller sets, then from `status` on
 * what the driver sets. Its layout checks, here against the header.
 */
static_assert(offsetof(struct sg_io_hdr, status) == (sizeof(void *) == 8 ? 64 : 44));
static_assert(offsetof(struct sg_io_hdr, info) + sizeof(unsigned int) ==
	      (sizeof(void *) == 8 ? 84 : 64));

static int ub_ioctl(struct block_device *bdev, blk_mode_t mode, unsigned int cmd,
		    unsigned long arg)
{
	const struct ub_disk_hooks *h = bdev->bd_disk->private_data;

	switch (cmd) {
	case SG_GET_VERSION_NUM:
		return put_user(UB_SG_VERSION, (int __user *)arg);
	case SG_IO:
		/* The checks, the copies and the command: Rust (SG_IO in kext/blk). */
		return h->sg_io(h->owner, arg, in_compat_syscall(),
				queue_max_hw_sectors(bdev->bd_disk->queue) << SECTOR_SHIFT);
	case CDROMEJECT:
		return h->eject(h->owner);
	case CDROM_LOCKDOOR:
		/* eject(1) unlocks first and gives up on this method if that fails. */
		return h->lock_door(h->owner, arg != 0);
	default:
		return -ENOTTY;
	}
}

/*
 * The last reference to an added disk is gone: its name and dev_t may go to a
 * new disk only now (as sd's scsi_disk_release), not at unplug: the kernel finds
 * a file system by dev_t, and one still mounted on the old disk would be taken
 * for the new one's. Then drop the hooks and their owner.
 */
static void ub_free_disk(struct gendisk *disk)
{
	struct ub_disk_hooks *h = disk->private_data;

	if (h->index >= 0)
		ida_free(&ub_disk_ida, h->index);
	h->release(h);
}

static const struct block_device_operations ub_fops = {
	.owner = THIS_MODULE,
	.open = ub_open,
	.check_events = ub_check_events,
	.ioctl = ub_ioctl,
	.compat_ioctl = blkdev_compat_ptr_ioctl,
	.free_disk = ub_free_disk,
};

/*
 * struct ub_disk_hooks as this compiler lays it out: its size, then each
 * field's offset in order, then the same for struct ub_lun_ident. The Rust
 * side (kext/blk/hooks.rs) repeats both structs and compares its own layout
 * with this one at module load, so that a field added on one side only stops
 * the load instead of corrupting the hooks.
 */
static const size_t ub_hooks_layout[] = {
	sizeof(struct ub_disk_hooks),
	offsetof(struct ub_disk_hooks, owner),
	offsetof(struct ub_disk_hooks, open),
	offsetof(struct ub_disk_hooks, check_events),
	offsetof(struct ub_disk_hooks, eject),
	offsetof(struct ub_disk_hooks, lock_door),
	offsetof(struct ub_disk_hooks, sg_io),
	offsetof(struct ub_disk_hooks, release),
	offsetof(struct ub_disk_hooks, ident),
	offsetof(struct ub_disk_hooks, max_sectors_cap),
	offsetof(struct ub_disk_hooks, index),
	sizeof(struct ub_lun_ident),
	offsetof(struct ub_lun_ident, vendor),
	offsetof(struct ub_lun_ident, model),
	offsetof(struct ub_lun_ident, rev),
	offsetof(struct ub_lun_ident, serial),
	offsetof(struct ub_lun_ident, lun),
};

const size_t *ub_disk_hooks_layout(unsigned int *n)
{
	*n = ARRAY_SIZE(ub_hooks_layout);
	return ub_hooks_layout;
}

const struct block_device_operations *ub_disk_fops(void)
{
	return &ub_fops;
}

/*
 * The disk's ub/ directory: which LUN it is and that LUN's identification
 * (INQUIRY; serial from VPD page 0x80, empty without one). A card reader's
 * slots share the interface's attributes but not these. The hooks live until
 * the disk is freed, after its attributes are gone.
 */
#define UB_DISK_ATTR(field, fmt)						\
static ssize_t ub_disk_##field##_show(struct device *dev,			\
				      struct device_attribute *attr, char *buf)	\
{										\
	const struct ub_disk_hooks *h = dev_to_disk(dev)->private_data;		\
										\
	return sysfs_emit(buf, fmt "\n", h->ident.field);			\
}										\
static struct device_attribute ub_disk_attr_##field =				\
	__ATTR(field, 0444, ub_disk_##field##_show, NULL)

UB_DISK_ATTR(lun, "%u");
UB_DISK_ATTR(vendor, "%s");
UB_DISK_ATTR(model, "%s");
UB_DISK_ATTR(rev, "%s");
UB_DISK_ATTR(serial, "%s");

/*
 * ub/max_sectors: the largest command in 512-byte sectors, usb-storage's
 * device/max_sectors for one disk. Whole logical blocks, at least a page, at most
 * what the disk's scatterlist and DMA mapping take. Applied with the queue
 * frozen: requests already queued keep their size.
 */
static ssize_t ub_disk_max_sectors_show(struct device *dev,
					struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", queue_max_hw_sectors(dev_to_disk(dev)->queue));
}

static ssize_t ub_disk_max_sectors_store(struct device *dev,
					 struct device_attribute *attr,
					 const char *buf, size_t count)
{
	struct gendisk *disk = dev_to_disk(dev);
	const struct ub_disk_hooks *h = disk->private_data;
	struct request_queue *q = disk->queue;
	unsigned int lbs = queue_logical_block_size(q) >> SECTOR_SHIFT;
	struct queue_limits lim;
	unsigned int ms;
	int err;

	err = kstrtouint(buf, 10, &ms);
	if (err)
		return err;
	/* Never below a page: blk_validate_limits() refuses that with a warning. */
	if (ms < PAGE_SECTORS || ms > h->max_sectors_cap || ms % lbs)
		return -EINVAL;
	lim = queue_limits_start_update(q);
	lim.max_hw_sectors = ms;
	err = queue_limits_commit_update_frozen(q, &lim);
	return err ?: count;
}

static struct device_attribute ub_disk_attr_max_sectors =
	__ATTR(max_sectors, 0644, ub_disk_max_sectors_show, ub_disk_max_sectors_store);

static struct attribute *ub_disk_attrs[] = {
	&ub_disk_attr_max_sectors.attr,
	&ub_disk_attr_lun.attr,
	&ub_disk_attr_vendor.attr,
	&ub_disk_attr_model.attr,
	&ub_disk_attr_rev.attr,
	&ub_disk_attr_serial.attr,
	NULL,
};

static const struct attribute_group ub_disk_group = {
	.name = "ub",
	.attrs = ub_disk_attrs,
};

static const struct attribute_group *ub_disk_groups[] = {
	&ub_disk_group,
	NULL,
};

const struct attribute_group **ub_disk_attr_groups(void)
{
	return ub_disk_groups;
}

struct gendisk *ub_blk_mq_alloc_disk(struct blk_mq_tag_set *set,
				     struct queue_limits *lim, void *queuedata)
{
	return blk_mq_alloc_disk(set, lim, queuedata);
}

sector_t ub_blk_rq_pos(const struct request *rq)
{
	return blk_rq_pos(rq);
}

unsigned int ub_blk_rq_bytes(const struct request *rq)
{
	return blk_rq_bytes(rq);
}

unsigned int ub_req_op(const struct request *rq)
{
	return req_op(rq);
}

bool ub_req_fua(const struct request *rq)
{
	return rq->cmd_flags & REQ_FUA;
}

int ub_blk_rq_map_sg(struct request *rq, struct scatterlist *sglist)
{
	return blk_rq_map_sg(rq, sglist);
}

void *ub_rq_queuedata(const struct request *rq)
{
	return rq->q->queuedata;
}

unsigned int ub_rq_timeout_ms(const struct request *rq)
{
	return jiffies_to_msecs(rq->q->rq_timeout);
}

/*
 * Before blk_mq_start_request(): the request's timer counts from when it was
 * submitted (its time stamp), not from now. It may have waited in the I/O
 * scheduler or a plug while ->queue_rq ran another request; the driver's
 * timeout callback extends it where that wait was free.
 */
void ub_rq_time_from_submission(struct request *rq)
{
	u64 now = ktime_get_ns(), start = rq->start_time_ns;
	unsigned long full = rq->timeout ? rq->timeout : rq->q->rq_timeout;
	unsigned long waited;

	if (!start || start >= now)
		return;
	waited = nsecs_to_jiffies(now - start);
	rq->timeout = waited < full ? full - waited : 1;
}

void ub_rq_set_timeout_ms(struct request *rq, unsigned int ms)
{
	rq->timeout = msecs_to_jiffies(ms);
}

blk_status_t ub_errno_to_blk_status(int err)
{
	return errno_to_blk_status(err);
}

/* As sd_set_flush_flag(): FUA only with a write cache (the block layer agrees). */
void ub_limits_set_write_cache(struct queue_limits *lim, bool fua)
{
	lim->features |= BLK_FEAT_WRITE_CACHE;
	if (fua)
		lim->features |= BLK_FEAT_FUA;
}

/* As sd: a rotating medium, whose timings also feed the entropy pool. */
void ub_limits_set_rotational(struct queue_limits *lim)
{
	lim->features |= BLK_FEAT_ROTATIONAL | BLK_FEAT_ADD_RANDOM;
}

/*
 * Turns the volatile write cache feature of a live disk on or off (after a media
 * change): the queue is frozen meanwhile, as sd_revalidate_disk() does.
 */
int ub_disk_set_write_cache(struct gendisk *disk, bool on, bool fua)
{
	struct queue_limits lim = queue_limits_start_update(disk->queue);

	lim.features &= ~(BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA);
	if (on)
		ub_limits_set_write_cache(&lim, fua);
	return queue_limits_commit_update_frozen(disk->queue, &lim);
}
