#ifndef MOOSYNC_CAVAHI_SHIM_H
#define MOOSYNC_CAVAHI_SHIM_H
#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/error.h>
#include <avahi-common/simple-watch.h>
#endif
