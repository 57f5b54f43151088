// libcurl for Swift: curl_easy_setopt and curl_easy_getinfo are variadic, which
// Swift cannot call, so each argument type gets a typed shim.
#ifndef CHTTP_H
#define CHTTP_H

#include <curl/curl.h>

typedef size_t (*chttp_write_callback)(char *data, size_t size, size_t nmemb, void *userdata);

CURLcode chttp_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode chttp_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode chttp_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode chttp_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode chttp_setopt_write_callback(CURL *handle, CURLoption option, chttp_write_callback callback);
CURLcode chttp_getinfo_long(CURL *handle, CURLINFO info, long *value);

/// Progress callback (CURLOPT_XFERINFOFUNCTION); returning non-zero aborts the transfer.
/// Used to stop a transfer whose Swift task was cancelled.
typedef int (*chttp_xferinfo_callback)(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
CURLcode chttp_setopt_xferinfo_callback(CURL *handle, chttp_xferinfo_callback callback);

#endif
