#ifndef ARIA_CNATS_SHIM_H
#define ARIA_CNATS_SHIM_H
#include <nats/nats.h>
#endif
