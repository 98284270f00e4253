#ifndef CERTCTL_CCURLSHIM_H
#define CERTCTL_CCURLSHIM_H

#include <curl/curl.h>
#include <stddef.h>

/// Non-variadic wrappers around curl_easy_setopt / curl_easy_getinfo, which Swift cannot call.
CURLcode certctl_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode certctl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);
CURLcode certctl_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode certctl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
/// Sets a blob option (CURLOPT_CAINFO_BLOB, CURLOPT_SSLCERT_BLOB, CURLOPT_SSLKEY_BLOB); libcurl copies the bytes.
CURLcode certctl_easy_setopt_blob(CURL *handle, CURLoption option, const void *data, size_t length);
CURLcode certctl_easy_setopt_write_callback(CURL *handle, CURLoption option, curl_write_callback callback);
CURLcode certctl_easy_setopt_read_callback(CURL *handle, curl_read_callback callback);
CURLcode certctl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode certctl_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value);

#endif
