#ifndef ARIA_CLIBPQ_SHIM_H
#define ARIA_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
