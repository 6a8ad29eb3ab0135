#include "runlog.h"

void runlog_add(runlog *r, const run_entry *e)
{
    run_entry *slot = &r->entries[r->count % RUNLOG_SIZE];
    *slot = *e;
    slot->number = ++r->count;
}

const run_entry *runlog_at(const runlog *r, size_t index)
{
    uint32_t first = r->count > RUNLOG_SIZE ? r->count - RUNLOG_SIZE : 0;
    if (index >= r->count - first) {
        return NULL;
    }
    return &r->entries[(first + index) % RUNLOG_SIZE];
}

const char *run_kind_name(run_kind kind)
{
    static const char *const names[] = {"flash", "verify", "probe", "erase", "load"};
    return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}
