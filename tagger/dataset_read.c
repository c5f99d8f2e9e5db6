/* Reading one caption file into an item: bytes -> hash (for change detection) -> tags (interned)
 * -> the layout facts an edited caption must keep (BOM, CRLF, final newline, extra lines). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tagger/caption.h"
#include "tagger/private/dataset_build.h"
#include "tagger/private/file_io.h"

static int item_take_caption(dataset *ds, ds_item *it, const char *text, size_t len)
{
    caption c;
    if (caption_parse(text, len, &c) < 0)
        return -1;
    uint32_t *ids = malloc(sizeof *ids * (c.n ? c.n : 1));
    int rc = ids ? 0 : -1;
    for (size_t k = 0; k < c.n && rc == 0; k++) {
        ids[k] = dict_intern(&ds->tags, text + c.tags[k].off, c.tags[k].len);
        if (ids[k] == DICT_NONE)
            rc = -1;
    }
    caption_layout l = caption_layout_of(&c, text, len);
    it->bom = l.bom;
    it->crlf = l.crlf;
    it->trailing_eol = l.trailing_eol;
    if (rc == 0 && l.rest_len) {
        it->rest = malloc(l.rest_len);
        if (it->rest) {
            memcpy(it->rest, l.rest, l.rest_len);
            it->rest_len = (uint32_t)l.rest_len;
        } else {
            rc = -1;
        }
    }
    if (rc == 0)
        rc = item_set_tags(ds, it, ids, (uint32_t)c.n);
    it->dirty = 0;
    free(ids);
    caption_free(&c);
    return rc;
}

int item_read_caption(dataset *ds, ds_item *it, int dirfd, const char *name)
{
    char *text = NULL;
    size_t len = 0;
    char reason[256];
    if (file_read_at(dirfd, name, CAPTION_MAX_BYTES, &text, &len, reason, sizeof reason) < 0) {
        it->locked = 1;
        it->has_file = 1;
        return dataset_add_note(ds, NOTE_UNREADABLE, it->caption, reason);
    }
    it->has_file = 1;
    it->disk_hash = hash_bytes(text, len);
    int rc = item_take_caption(ds, it, text, len);
    free(text);
    return rc;
}
