// The libraries an install loads validate with zod/mini, which loads in about a third of the
// time of zod's full API (issue 20: an already-installed `cpy install` spent some 25 ms loading
// the full API). zod/mini has no messages until a locale is set; this sets zod's English ones,
// the messages the full API gives. The setting is global, and every library imports @cpy/core,
// so this one import covers them all.
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());
