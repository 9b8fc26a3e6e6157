#ifndef ARIA_CCURL_SHIM_H
#define ARIA_CCURL_SHIM_H
#include <curl/curl.h>
#endif
