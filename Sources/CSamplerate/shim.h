#ifndef MOOSYNC_CSAMPLERATE_SHIM_H
#define MOOSYNC_CSAMPLERATE_SHIM_H
#include <samplerate.h>
#endif
