/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The bundled usb_buffer_map_sg() family; see usbcore_sg.c. The Rust side declares
 * the same functions in drivers/ub/kext/ffi.rs.
 */
#ifndef UB_USBCORE_SG_H
#define UB_USBCORE_SG_H

#include <linux/types.h>

struct scatterlist;
struct usb_device;
struct usb_sg_request;

bool usb_sg_premappable(const struct usb_device *dev);
bool usb_sg_in_order_rings(const struct usb_device *dev);
size_t usb_sg_max_mapping_size(const struct usb_device *dev);
void usb_sg_allow_any_segment_size(const struct usb_device *dev);
int usb_buffer_map_sg(const struct usb_device *dev, int is_in,
		      struct scatterlist *sg, int nents);
void usb_buffer_unmap_sg(const struct usb_device *dev, int is_in,
			 struct scatterlist *sg, int n_hw_ents);
void usb_sg_mark_premapped(struct usb_sg_request *io, int mapped);
unsigned int usb_sg_bulk_pipe(struct usb_device *dev, u8 address);
unsigned int usb_sg_ctrl_pipe(struct usb_device *dev, bool in);
u8 usb_sg_pipe_endpoint(unsigned int pipe);

#endif
