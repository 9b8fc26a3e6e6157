#ifndef ARIA_CCURL_SHIM_H
#define ARIA_CCURL_SHIM_H
#include <curl/curl.h>

/*
 * Swift cannot call the variadic curl_easy_setopt and curl_easy_getinfo: one typed wrapper per
 * argument type. The names say the C type the option takes; passing an option of another type is
 * undefined behaviour in libcurl, so each Swift call site picks the wrapper the option's
 * documentation names (CURLOPTTYPE_LONG, _STRINGPOINT, _OBJECTPOINT, _OFF_T, _SLISTPOINT, ...).
 */

/* CURLOPTTYPE_LONG and CURLOPTTYPE_VALUES options. */
static inline CURLcode aria_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

/* CURLOPTTYPE_STRINGPOINT options (libcurl copies the string). */
static inline CURLcode aria_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

/* CURLOPTTYPE_OBJECTPOINT and CURLOPTTYPE_CBPOINT options (the pointer must stay valid while used). */
static inline CURLcode aria_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

/* CURLOPTTYPE_SLISTPOINT options (the list must stay valid until the transfer ends). */
static inline CURLcode aria_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

/* CURLOPTTYPE_OFF_T options. */
static inline CURLcode aria_curl_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

/* CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION. */
static inline CURLcode aria_curl_setopt_write_callback(CURL *handle, CURLoption option, curl_write_callback value) {
    return curl_easy_setopt(handle, option, value);
}

/* CURLOPT_OPENSOCKETFUNCTION. */
static inline CURLcode aria_curl_setopt_opensocket_callback(CURL *handle, CURLoption option, curl_opensocket_callback value) {
    return curl_easy_setopt(handle, option, value);
}

/* CURLOPT_XFERINFOFUNCTION. */
static inline CURLcode aria_curl_setopt_xferinfo_callback(CURL *handle, CURLoption option, curl_xferinfo_callback value) {
    return curl_easy_setopt(handle, option, value);
}

/* CURLINFO_LONG values. */
static inline CURLcode aria_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

/* CURLINFO_STRING values (owned by the handle; valid until the next transfer or reset). */
static inline CURLcode aria_curl_getinfo_string(CURL *handle, CURLINFO info, char **value) {
    return curl_easy_getinfo(handle, info, value);
}

/* CURLINFO_OFF_T values. */
static inline CURLcode aria_curl_getinfo_off_t(CURL *handle, CURLINFO info, curl_off_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

/* CURL_SOCKET_BAD is a macro Swift may import with the wrong type: a typed constant. */
static inline curl_socket_t aria_curl_socket_bad(void) {
    return CURL_SOCKET_BAD;
}

#endif
