/* The mount table's ceiling for a compiled filesystem (scripts/bench --mount): a libfuse 3
 * filesystem that takes every write and drops it, keeping only each file's size so the
 * bench can check that the writer's bytes all arrived. Files are direct I/O, as through
 * s3sink mount, so every write() is one FUSE request; libfuse's multi-threaded loop, as
 * mfusepy's. Built by the bench: cc -O2 nullfs.c $(pkg-config --cflags --libs fuse3). */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fuse.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILES 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char names[MAX_FILES][256];
static off_t sizes[MAX_FILES];
static int count;

static int find(const char *path) {
    for (int i = 0; i < count; i++)
        if (!strcmp(names[i], path)) return i;
    return -1;
}

static int null_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    (void)fi;
    memset(st, 0, sizeof *st);
    if (!strcmp(path, "/")) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
        return 0;
    }
    pthread_mutex_lock(&lock);
    int i = find(path);
    if (i >= 0) {
        st->st_mode = S_IFREG | 0644;
        st->st_nlink = 1;
        st->st_size = sizes[i];
    }
    pthread_mutex_unlock(&lock);
    return i >= 0 ? 0 : -ENOENT;
}

static int null_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
    (void)mode;
    pthread_mutex_lock(&lock);
    int i = find(path);
    if (i < 0 && count < MAX_FILES && strlen(path) < sizeof names[0]) {
        i = count++;
        strcpy(names[i], path);
    }
    if (i >= 0) sizes[i] = 0;
    pthread_mutex_unlock(&lock);
    fi->direct_io = 1;
    fi->fh = (uint64_t)i;
    return i >= 0 ? 0 : -ENOSPC;
}

static int null_write(const char *path, const char *buf, size_t size, off_t offset,
                      struct fuse_file_info *fi) {
    (void)path;
    (void)buf;
    pthread_mutex_lock(&lock);
    if (offset + (off_t)size > sizes[fi->fh]) sizes[fi->fh] = offset + (off_t)size;
    pthread_mutex_unlock(&lock);
    return (int)size;
}

static int null_open(const char *path, struct fuse_file_info *fi) {
    pthread_mutex_lock(&lock);
    int i = find(path);
    pthread_mutex_unlock(&lock);
    fi->direct_io = 1;
    fi->fh = (uint64_t)i;
    return i >= 0 ? 0 : -ENOENT;
}

static int null_ok(const char *path, struct fuse_file_info *fi) {
    (void)path;
    (void)fi;
    return 0;
}

static int null_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
    (void)path;
    (void)size;
    (void)fi;
    return 0;
}

static int null_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
    (void)path;
    (void)tv;
    (void)fi;
    return 0;
}

static const struct fuse_operations operations = {
    .getattr = null_getattr,
    .create = null_create,
    .open = null_open,
    .write = null_write,
    .truncate = null_truncate,
    .flush = null_ok,
    .release = null_ok,
    .utimens = null_utimens,
};

int main(int argc, char *argv[]) { return fuse_main(argc, argv, &operations, NULL); }
