// Test driver for the mask code: loads a COCO instances file (rasterising
// polygons, decoding RLE) and writes every annotation back as a results file
// with compressed-RLE masks, so test_rle.py can compare each string, area and
// box with pycocotools' annToRLE / area / toBbox.
//
// usage: coco_masks_tool GT.json OUT.json
#include <stdio.h>

#include "coco.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: coco_masks_tool GT.json OUT.json\n");
        return 2;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){0});
    useg_coco gt;
    useg_status st = useg_coco_load(&ctx, argv[1], true, &gt);
    if (st == USEG_OK) {
        for (size_t i = 0; i < gt.n_anns; i++) {
            useg_rle_bbox(&gt.anns[i].rle, gt.anns[i].bbox);
            gt.anns[i].score = (double)useg_rle_area(&gt.anns[i].rle); // carries the area to the test
        }
        st = useg_coco_write_results(&ctx, argv[2], gt.anns, gt.n_anns);
        useg_coco_free(&gt);
    }
    if (st != USEG_OK) fprintf(stderr, "coco_masks_tool: %s\n", ctx.message);
    useg_ctx_free(&ctx);
    return st == USEG_OK ? 0 : 1;
}
