// Byte-order guard for the wire-format structs in native/spec.
//
// Every NVMe / NVMe-oF structure is little-endian on the wire. The spec
// headers overlay packed structs directly on received bytes, which is only
// correct on a little-endian host; rdmagate targets x86_64 only, so instead
// of byte-swapping accessors we refuse to build anywhere else.
#pragma once

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "rdmagate wire structs assume a little-endian host");
