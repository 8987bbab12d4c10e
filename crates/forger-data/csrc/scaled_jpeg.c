/*
 * JPEG decoding at a reduced scale through libjpeg(-turbo), for forger-data.
 *
 * libjpeg can decode at 1/2, 1/4 or 1/8 of full size in the DCT domain
 * (a reduced inverse DCT per 8x8 block), which costs a fraction of a full
 * decode followed by a shrink; the pure-Rust decoders have no such option.
 * Errors longjmp back to this function only (no Rust frame lies between
 * libjpeg and the setjmp), and libjpeg's messages are returned, not printed.
 */
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>

struct forger_error {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
};

static void forger_error_exit(j_common_ptr cinfo) {
    struct forger_error *err = (struct forger_error *)cinfo->err;
    longjmp(err->jump, 1);
}

/*
 * Warnings (level -1: corrupt data, a stream cut short, which libjpeg would
 * otherwise pad with grey) are errors: a damaged image must not load as if
 * it were whole. Trace messages (level >= 0) are ignored.
 */
static void forger_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0) {
        forger_error_exit(cinfo);
    }
}

/* Returns a buffer of `len` bytes owned by the caller's `ctx`, or NULL. */
typedef unsigned char *(*forger_alloc)(void *ctx, size_t len);

/*
 * Decodes the JPEG in `data` to interleaved RGB at the smallest scale
 * 1/1, 1/2, 1/4 or 1/8 that keeps it at least `min_width x min_height`
 * (full size if the image is smaller), refusing images of more than
 * `max_pixels` pixels from their header before any allocation. Returns 0 on success with the size
 * in `width` and `height`; 1 when the image is in a colour space this path
 * does not convert (CMYK, YCCK), so the caller should decode it otherwise;
 * -1 on error, with libjpeg's message in `message`.
 */
int forger_decode_scaled_jpeg(const unsigned char *data, size_t len, unsigned min_width,
                              unsigned min_height, unsigned long long max_pixels,
                              forger_alloc alloc, void *ctx,
                              unsigned *width, unsigned *height, char *message,
                              size_t message_len) {
    struct jpeg_decompress_struct cinfo;
    struct forger_error err;

    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = forger_error_exit;
    err.mgr.emit_message = forger_emit_message;
    if (setjmp(err.jump)) {
        char text[JMSG_LENGTH_MAX];
        err.mgr.format_message((j_common_ptr)&cinfo, text);
        snprintf(message, message_len, "%s", text);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    if ((unsigned long long)cinfo.image_width * cinfo.image_height > max_pixels) {
        snprintf(message, message_len,
                 "the image claims %ux%u pixels, more than the limit of %llu (--max-image-pixels)",
                 cinfo.image_width, cinfo.image_height, max_pixels);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        jpeg_destroy_decompress(&cinfo);
        return 1;
    }
    unsigned denom = 8;
    while (denom > 1 && ((cinfo.image_width + denom - 1) / denom < min_width ||
                         (cinfo.image_height + denom - 1) / denom < min_height)) {
        denom /= 2;
    }
    cinfo.scale_num = 1;
    cinfo.scale_denom = denom;
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * 3;
    unsigned char *pixels = alloc(ctx, stride * cinfo.output_height);
    if (pixels == NULL) {
        snprintf(message, message_len, "cannot allocate %ux%u pixels", cinfo.output_width,
                 cinfo.output_height);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW rows[16];
        JDIMENSION count = cinfo.output_height - cinfo.output_scanline;
        if (count > 16) count = 16;
        for (JDIMENSION i = 0; i < count; i++) {
            rows[i] = pixels + (cinfo.output_scanline + i) * stride;
        }
        jpeg_read_scanlines(&cinfo, rows, count);
    }
    *width = cinfo.output_width;
    *height = cinfo.output_height;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return 0;
}
