/* libvd: remote display of virtual desktops.  Include this, or the parts you need.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef VD_VD_H
#define VD_VD_H

#include <vd/common.h>
#include <vd/decoder.h>
#include <vd/encoder.h>
#include <vd/session.h>

#endif
