/* What a batch is made of beyond the images: the tokenizer callbacks for the two model families,
 * the pixel (un)shuffle the pixel-space tiny model may use, and the batch's buffers. */
#include "trainer/train_data.h"

#include <stdlib.h>

#include "trainer/clip_tokenizer.h"
#include "trainer/tag_tokenizer.h"

int train_tokenize_tags(void *tag_tokenizer_ctx, const char *caption, int32_t *ids, int max_len)
{
    int n_real = 0;
    if (tag_tokenize(tag_tokenizer_ctx, caption, ids, max_len, &n_real) < 0)
        return -1;
    return n_real;
}

int train_tokenize_clip(void *clip_tokenizer_ctx, const char *caption, int32_t *ids, int max_len)
{
    int n_real = 0;
    if (clip_tokenize(clip_tokenizer_ctx, caption, ids, max_len, CLIP_SD1_PAD_ID, &n_real) < 0)
        return -1;
    return n_real;
}

int train_data_space_to_depth(const float *src, int B, int C, int H, int W, int r, float *dst)
{
    if (r < 1 || H % r || W % r)
        return -1;
    int h = H / r, w = W / r;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < r; i++)
                for (int j = 0; j < r; j++) {
                    const float *in = src + ((size_t)b * C + c) * H * W;
                    float *out = dst + (((size_t)b * C + c) * r * r + (size_t)i * r + j) * h * w;
                    for (int y = 0; y < h; y++)
                        for (int x = 0; x < w; x++)
                            out[(size_t)y * w + x] = in[(size_t)(y * r + i) * W + x * r + j];
                }
    return 0;
}

int train_data_depth_to_space(const float *src, int B, int C, int H, int W, int r, float *dst)
{
    if (r < 1)
        return -1;
    int OH = H * r, OW = W * r;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < r; i++)
                for (int j = 0; j < r; j++) {
                    const float *in = src + (((size_t)b * C + c) * r * r + (size_t)i * r + j) * H * W;
                    float *out = dst + ((size_t)b * C + c) * OH * OW;
                    for (int y = 0; y < H; y++)
                        for (int x = 0; x < W; x++)
                            out[(size_t)(y * r + i) * OW + x * r + j] = in[(size_t)y * W + x];
                }
    return 0;
}

void train_batch_free(train_batch *b)
{
    if (!b)
        return;
    for (size_t k = 0; b->captions && k < b->cap_n; k++)
        free(b->captions[k]);
    free(b->captions);
    free(b->pixels);
    free(b->latents);
    free(b->ids);
    free(b->n_ids);
    free(b->images);
    free(b->flipped);
    free(b->crop_x);
    free(b->crop_y);
    *b = (train_batch){0};
}
