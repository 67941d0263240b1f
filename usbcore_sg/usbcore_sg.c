// SPDX-License-Identifier: GPL-2.0
/*
 * usb_buffer_map_sg() and usb_buffer_unmap_sg(), bundled with ub.
 *
 * These left usbcore long ago (Linux 2.6 drivers/usb/core/usb.c). In 7.3,
 * usb_sg_init() does not map anything: the HCD maps each URB at submit time in
 * usb_hcd_map_urb_for_dma() unless URB_NO_TRANSFER_DMA_MAP is set. ub maps a
 * request's scatterlist once, on the host controller's DMA device, marks the URB
 * built by usb_sg_init() so that the HCD does not map it again, and unmaps (which
 * syncs for the CPU) after usb_sg_wait() returns.
 *
 * Controllers that do not use DMA (dummy_hcd, PIO), use local memory, or cannot
 * take a scatterlist in one URB are left to the HCD's own mapping: on them
 * usb_sg_init() builds one URB per CPU entry, which cannot follow a coalesced
 * mapping.
 *
 * Also here: the usb.h static inlines the Rust side needs (pipes), which bindgen
 * cannot see.
 */

#include <linux/dma-mapping.h>
#include <linux/scatterlist.h>
#include <linux/usb.h>
#include <linux/usb/hcd.h>

#include "usbcore_sg.h"

static struct device *usb_dma_device(const struct usb_device *dev)
{
	struct usb_hcd *hcd;

	if (!dev || !dev->bus)
		return NULL;
	hcd = bus_to_hcd(dev->bus);
	if (!hcd_uses_dma(hcd) || hcd->localmem_pool || !dev->bus->sg_tablesize)
		return NULL;
	return hcd->self.sysdev;
}

/**
 * usb_sg_allow_any_segment_size - let the controller's DMA layer map entries of any length
 * @dev: the device whose requests will be mapped
 *
 * A queue with a virtual boundary (the controllers other than xHCI, which need
 * every entry but the last to end on a max-packet boundary) has no segment size
 * limit: the block layer makes it UINT_MAX. A PCI controller's DMA parameters say
 * 64 KiB, and DMA-API debug reports every longer entry. These controllers build
 * their transfer descriptors page by page and do not care; scsi_init_limits()
 * raises the same limit for usb-storage's queues on the same controllers.
 */
void usb_sg_allow_any_segment_size(const struct usb_device *dev)
{
	struct usb_hcd *hcd;
	struct device *controller;

	if (!dev || !dev->bus)
		return;
	hcd = bus_to_hcd(dev->bus);
	controller = hcd->self.sysdev;
	if (hcd_uses_dma(hcd) && controller && controller->dma_parms)
		dma_set_max_seg_size(controller, UINT_MAX);
}

/**
 * usb_sg_premappable - whether usb_buffer_map_sg() can map for this device
 * @dev: the device the transfer is for
 *
 * Return: true when the host controller does DMA from system memory and takes a
 * whole scatterlist in one URB; false when the HCD must do its own mapping.
 */
bool usb_sg_premappable(const struct usb_device *dev)
{
	return usb_dma_device(dev) != NULL;
}

/**
 * usb_sg_in_order_rings - whether transfers start in the order they are queued
 * @dev: the device the transfers are for
 *
 * Return: true on xHCI (any USB 3 host controller driver): every endpoint has
 * its own transfer ring, started by a doorbell write when a URB is queued, so a
 * URB queued on one endpoint after a URB on another reaches the device after
 * it. EHCI, OHCI and UHCI walk a schedule in an order of their own.
 */
bool usb_sg_in_order_rings(const struct usb_device *dev)
{
	struct usb_hcd *hcd;

	if (!dev || !dev->bus)
		return false;
	hcd = bus_to_hcd(dev->bus);
	return (hcd->driver->flags & HCD_MASK) >= HCD_USB3;
}

/**
 * usb_sg_max_mapping_size - largest single DMA mapping the controller allows
 * @dev: the device the transfers are for
 *
 * Return: dma_max_mapping_size() of the controller's DMA device (bounded by
 * swiotlb, for instance), or SIZE_MAX when the HCD maps by itself.
 */
size_t usb_sg_max_mapping_size(const struct usb_device *dev)
{
	struct device *controller = usb_dma_device(dev);

	return controller ? dma_max_mapping_size(controller) : SIZE_MAX;
}

/**
 * usb_buffer_map_sg - create scatterlist DMA mapping(s) for an endpoint
 * @dev: device to which the scatterlist will be mapped
 * @is_in: mapping transfer direction
 * @sg: the scatterlist to map
 * @nents: the number of entries in the scatterlist
 *
 * Return: either < 0 (no buffers could be mapped: -EINVAL when the controller
 * does not take premapped scatterlists, -ENOMEM when the mapping failed), or the
 * number of DMA mapping array entries in the scatterlist, which may be fewer than
 * @nents when an IOMMU coalesced them.
 */
int usb_buffer_map_sg(const struct usb_device *dev, int is_in,
		      struct scatterlist *sg, int nents)
{
	struct device *controller = usb_dma_device(dev);
	int mapped;

	if (!controller || !sg || nents <= 0)
		return -EINVAL;
	mapped = dma_map_sg(controller, sg, nents,
			    is_in ? DMA_FROM_DEVICE : DMA_TO_DEVICE);
	return mapped ? mapped : -ENOMEM;
}

/**
 * usb_buffer_unmap_sg - free DMA mapping(s) for a scatterlist
 * @dev: device to which the scatterlist was mapped
 * @is_in: mapping transfer direction
 * @sg: the scatterlist to unmap
 * @n_hw_ents: the number of entries passed to usb_buffer_map_sg() (not the
 *	number it returned: the DMA API unmaps by the CPU entries)
 *
 * Syncs the buffers for the CPU: after this, read data is visible.
 */
void usb_buffer_unmap_sg(const struct usb_device *dev, int is_in,
			 struct scatterlist *sg, int n_hw_ents)
{
	struct device *controller = usb_dma_device(dev);

	if (!controller || !sg || n_hw_ents <= 0)
		return;
	dma_unmap_sg(controller, sg, n_hw_ents,
		     is_in ? DMA_FROM_DEVICE : DMA_TO_DEVICE);
}

/**
 * usb_sg_mark_premapped - tell the HCD that an usb_sg_init()ed request is mapped
 * @io: a request initialised by usb_sg_init() and not yet passed to usb_sg_wait()
 * @mapped: what usb_buffer_map_sg() returned for its scatterlist
 *
 * Only for devices where usb_sg_premappable() is true: there usb_sg_init() made
 * one URB carrying the whole list, and the HCD walks @mapped DMA entries.
 */
void usb_sg_mark_premapped(struct usb_sg_request *io, int mapped)
{
	int i;

	for (i = 0; i < io->entries; i++) {
		io->urbs[i]->transfer_flags |= URB_NO_TRANSFER_DMA_MAP;
		io->urbs[i]->num_mapped_sgs = mapped;
	}
}

unsigned int usb_sg_bulk_pipe(struct usb_device *dev, u8 address)
{
	return (address & USB_DIR_IN) ? usb_rcvbulkpipe(dev, address & 0x0f)
				      : usb_sndbulkpipe(dev, address & 0x0f);
}

unsigned int usb_sg_ctrl_pipe(struct usb_device *dev, bool in)
{
	return in ? usb_rcvctrlpipe(dev, 0) : usb_sndctrlpipe(dev, 0);
}

/* The endpoint address (direction bit included) a pipe refers to. */
u8 usb_sg_pipe_endpoint(unsigned int pipe)
{
	return usb_pipeendpoint(pipe) | (usb_pipein(pipe) ? USB_DIR_IN : 0);
}
