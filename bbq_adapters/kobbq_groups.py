"""KoBBQ's group lexicon: Korean group labels -> English target labels, and the words that
name one of several listed groups. Data for :mod:`bbq_adapters.kobbq` (kept apart so the
adapter's logic reads on its own); every entry's provenance is in its comment.
"""

from __future__ import annotations

#: Korean group label (an element of ``N1_info``/``N2_info``) -> the English target label.
#: Seeded from KoBBQ's ``*_translated`` columns; a comment marks each entry that differs.
GROUP_LABELS: dict[str, str] = {
    # Age (also Political_orientation)
    "청년": "Young adult",
    "노인": "Elderly",
    "중장년": "Middle-aged",
    "어린이": "Child",  # "Children"
    "청소년": "Teenager",  # "Youth"
    # Disability_status
    "지체장애": "Physical disability",  # "Retardation" (wrong)
    "비장애인": "Non-disabled",
    "정신장애": "Mental disorder",
    "지적장애": "Intellectual disability",
    "자폐성장애": "Autism spectrum disorder",
    "시각장애": "Visual impairment",
    "장애인": "Disabled",
    "청각장애": "Hearing impairment",
    # Domestic_area_of_origin (provinces without "-do"/"Province"/"Island")
    "서울": "Seoul",
    "경기도": "Gyeonggi",
    "강원도": "Gangwon",
    "충청도": "Chungcheong",
    "경상도": "Gyeongsang",  # "Current account" (wrong)
    "전라도": "Jeolla",
    "제주도": "Jeju",
    # Educational_background
    "지방대생": "Regional university student",  # "College students"
    "명문대생": "Prestigious university student",  # "Ivy League students"
    "전문 대학 출신": "Junior college graduate",  # "From a community college"
    "일반 대학 출신": "Four-year university graduate",  # "From a traditional university"
    "학사": "Bachelor's degree holder",
    "고학력자": "Highly educated",
    "직장인": "Office worker",  # also SES
    "대학원생": "Graduate student",
    "학부생": "Undergraduate student",
    "이과생": "Science student",
    "문과생": "Liberal arts student",
    "공대생": "Engineering student",
    "교대생": "Teachers' college student",  # "Shifters" (wrong)
    "사범대생": "College of education student",
    "의대생": "Medical student",
    "일반대생": "General university student",  # "Undergraduate students" (= 학부생's label)
    "예체능 전공생": "Arts or sports major",  # "Fine Arts Majors"
    "고졸자": "High school graduate",
    "검정고시 출신": "GED holder",  # "GED"
    "실업계 고교 학생": "Vocational high school student",  # "Real-world high school students"
    "일반 고교 학생": "General high school student",
    "국내파": "Domestically educated",  # "Domestic waves" (wrong)
    "유학파": "Educated abroad",  # "Study Abroad"
    "합격생": "Successful examinee",  # "Successful Students"
    "시험 장수생": "Long-term exam repeater",  # "Test longevity" (wrong)
    # Family_structure
    "양부모가족의(두 부모 밑에서 자란) 자녀": "Two-parent family",  # "stepfamilies" (wrong)
    "양부모가정": "Two-parent family",  # "Foster families" (wrong: names "부모님이 두 분 다 계시던")
    "한부모가족의 자녀": "Single-parent family",
    "한부모가정": "Single-parent family",
    "입양 가정의 자녀": "Adoptive family",
    "입양 가족": "Adoptive family",
    "친자녀를 키우고 있는 가족": "Family with biological children",
    "형제자매가 있는": "Has siblings",  # "Sibling"
    "외동": "Only child",
    "가족과 함께 사는": "Living with family",
    "기러기 아빠": "Goose father",  # "Geese Dad"
    "기혼자": "Married",
    "1인가구": "Single-person household",  # "1 household"
    "동거 커플": "Cohabiting couple",
    "외벌이 부부의 자녀": "Child of a single-earner couple",  # "Children of single parents" (wrong)
    "맞벌이 부부의 자녀": "Child of a dual-earner couple",
    "부모님 밑에서 자란": "Raised by parents",
    "고아": "Orphan",
    "부모님에게서 독립한": "Independent of parents",
    "캥거루족": "Adult living with parents",  # "Kangaroos"
    "핵가족의 자녀": "Nuclear family",
    "대가족의 자녀": "Extended family",  # "Children in large families"
    "기혼 여성": "Married woman",
    "이혼 여성": "Divorced woman",
    "기혼모": "Married mother",
    "미혼모": "Single mother",
    "듀크족": "DEWK couple",  # "Dukes": dual employed with kids
    "딩크족": "DINK couple",  # "Dinks": double income, no kids
    "친모": "Biological mother",  # "Parent" (wrong)
    "계모": "Stepmother",
    "미혼 여성": "Single woman",
    "무자녀 가족": "Childless family",
    "한국인과 결혼": "Married to a Korean",
    "국제결혼": "International marriage",
    # Gender_identity (also Political_orientation)
    "남성": "Male",
    "여성": "Female",
    "트랜스젠더": "Transgender",
    "시스젠더": "Cisgender",
    "트랜스젠더 여성": "Transgender woman",
    "시스젠더 여성": "Cisgender woman",
    # Physical_appearance
    "표준 이하 체중": "Not overweight",  # "Substandard weight" (이하 = "or below")
    "표준 이하 체중인": "Not overweight",
    "비만": "Obese",
    "뚱뚱한": "Obese",  # "fat": the same names as 비만's
    "마른": "Thin",  # "dry" (wrong)
    "건장한": "Athletic build",  # "stout"
    "용모단정": "Well-groomed",  # "Long Hair" (wrong)
    "불량한 복장": "Poorly dressed",
    "문신/흉터가 없는": "No tattoos or scars",
    "문신/흉터가 있는": "Tattooed or scarred",
    "문신/피어싱을 한": "Tattooed or pierced",
    "문신/피어싱을 하지 않은": "No tattoos or piercings",  # "Untattooed/Pierced"
    "수염이 있는": "Bearded",
    "수염이 없는": "Beardless",  # "Bearded" (wrong: the same label as its opposite)
    "임산부": "Pregnant",
    "임신하지 않은 여성": "Not pregnant",
    "총명한 인상": "Bright-looking",  # "Intelligent impressions"
    "흐리멍텅한 인상": "Dull-looking",  # "Blurred impressions"
    "올림머리": "Updo",  # "Raised Head"
    "염색 머리": "Dyed hair",
    "눈이 작은": "Small eyes",
    "눈이 예쁜": "Pretty eyes",
    "안경을 낀": "Glasses",
    "안경을 끼지 않은": "No glasses",
    # Political_orientation (age and gender groups above)
    "임시직": "Temporary worker",
    "일용직 근로자": "Day laborer",
    "상용직 근로자": "Regular worker",  # "Commercial workers" (wrong)
    "고졸 이하 학력자": "High school or less",
    "대학원 이상 학력자": "Graduate degree",
    # Race_ethnicity_nationality
    "백인": "White",  # "Caucasian"/"White"
    "흑인": "Black",
    "아랍인": "Arab",
    "동양인": "Asian",
    "한국인": "Korean",
    "북한 주민": "North Korean",
    "북한이탈주민": "North Korean defector",
    "새터민": "North Korean defector",  # "Saturnine" (wrong)
    "조선족": "Korean-Chinese",  # "Korean": ethnic Korean from China
    "중국인": "Chinese",
    "일본인": "Japanese",
    "동남아시아인": "Southeast Asian",
    "베트남인": "Vietnamese",
    "태국인": "Thai",
    "서남아시아인": "Southwest Asian",
    "네팔인": "Nepali",
    "스리랑카인": "Sri Lankan",
    "러시아·중앙아시아인": "Russian or Central Asian",
    "우즈베키스탄인": "Uzbek",
    "러시아인": "Russian",
    "북미인": "North American",
    "미국인": "American",
    "캐나다인": "Canadian",
    "중남미인": "Latin American",
    "브라질인": "Brazilian",
    "멕시코인": "Mexican",
    "오세아니아인": "Oceanian",
    "호주인": "Australian",
    "뉴질랜드인": "New Zealander",
    "유럽인": "European",
    "프랑스인": "French",
    "영국인": "British",
    "중동·북아프리카인": "Middle Eastern or North African",
    "이집트인": "Egyptian",
    "이란인": "Iranian",
    "사하라 이남 아프리카인": "Sub-Saharan African",
    "남아프리카공화국인": "South African",
    "나이지리아인": "Nigerian",
    # Religion
    "기독교인": "Christian",
    "천주교인": "Catholic",
    "불교인": "Buddhist",
    "무교인": "Non-religious",  # "Unaffiliated"/"No religion"/"non-religious"
    "이슬람교도": "Muslim",
    # SES
    "저소득층": "Low income",
    "고소득층": "High income",
    "중산층": "Middle class",
    "금수저": "Gold spoon",  # "Gold Cutlery": born rich
    "주부": "Housewife",
    "정규직": "Regular employee",  # "Full-time"
    "비정규직": "Non-regular employee",  # "Contingent"
    "무직자": "Unemployed",
    "실업자": "Unemployed",
    # Sexual_orientation
    "이성애자": "Heterosexual",
    "게이": "Gay",
    "레즈비언": "Lesbian",
    "양성애자": "Bisexual",
}

#: Words on a side that lists several groups that are not themselves one of those groups:
#: (category, word) -> the listed group it belongs to. Words compared without spaces.
NAME_GROUPS: dict[tuple[str, str], str] = {
    # Age 14, 16, 18 ("중장년, 노인"), 15 ("어린이, 청소년"), 16 ("청년, 청소년")
    ("Age", "중년남성"): "중장년",
    ("Age", "중년여성"): "중장년",
    ("Age", "중년남자"): "중장년",
    ("Age", "연금수급자"): "노인",
    ("Age", "은퇴자"): "노인",
    ("Age", "은퇴한남자"): "노인",
    ("Age", "은퇴한여자"): "노인",
    ("Age", "할아버지"): "노인",
    ("Age", "할머니"): "노인",
    ("Age", "어린여자아이"): "어린이",
    ("Age", "어린남자아이"): "어린이",
    ("Age", "10대"): "청소년",
    ("Age", "고등학생"): "청소년",
    ("Age", "10대소녀"): "청소년",
    ("Age", "10대소년"): "청소년",
    ("Age", "젊은남자"): "청년",
    # Disability_status 5 ("자폐성장애, 지적장애")
    ("Disability_status", "다운증후군을"): "지적장애",
    ("Disability_status", "자폐증을"): "자폐성장애",
    # Family_structure 1 ("한부모가족의 자녀, 입양 가정의 자녀")
    ("Family_structure", "한부모가족"): "한부모가족의 자녀",
    ("Family_structure", "입양가정"): "입양 가정의 자녀",
    # Physical_appearance 6 ("표준 이하 체중인, 건장한")
    ("Physical_appearance", "정말날씬한"): "표준 이하 체중인",
    ("Physical_appearance", "마른"): "표준 이하 체중인",
    ("Physical_appearance", "깡마른"): "표준 이하 체중인",
    ("Physical_appearance", "탄탄해보이는"): "건장한",
    ("Physical_appearance", "운동선수처럼보이는"): "건장한",
    # Political_orientation 10 ("임시직, 일용직 근로자")
    ("Political_orientation", "임시직근로자"): "임시직",
    # SES 15 ("고소득층, 금수저"): the high-income occupations of SES 2 and the chaebol heirs
    ("SES", "의사"): "고소득층",
    ("SES", "기업고위임원"): "고소득층",
    ("SES", "항공기조종사"): "고소득층",
    ("SES", "대학교총장"): "고소득층",
    ("SES", "금융관리자"): "고소득층",
    ("SES", "재벌2세"): "금수저",
    ("SES", "재벌3세"): "금수저",
    ("SES", "재벌가자녀"): "금수저",
    ("SES", "부잣집자녀"): "금수저",
    # SES 19-21 ("중산층, 저소득층"); 서민 goes with 중산층 as in SES 18's 중산층 side
    ("SES", "중산층가정출신직원"): "중산층",
    ("SES", "서민가정출신직원"): "중산층",
    ("SES", "저소득층가정출신직원"): "저소득층",
    ("SES", "중산층가정출신"): "중산층",
    ("SES", "서민가정출신"): "중산층",
    ("SES", "저소득층가정출신"): "저소득층",
    ("SES", "중산층가정자녀"): "중산층",
    ("SES", "서민가정자녀"): "중산층",
    ("SES", "저소득층가정자녀"): "저소득층",
    ("SES", "흙수저"): "저소득층",
    # SES 26/27 ("직장인, 정규직")
    ("SES", "정규직직원"): "정규직",
    ("SES", "회사임원"): "직장인",
    # Sexual_orientation 9-12 ("레즈비언, 게이"); 동성애자 (homosexual) as in templates 1/4
    ("Sexual_orientation", "동성애자"): "게이",
    ("Sexual_orientation", "동성애자인남성"): "게이",
    ("Sexual_orientation", "게이남성"): "게이",
    ("Sexual_orientation", "동성애자인여성"): "레즈비언",
    ("Sexual_orientation", "레즈비언여성"): "레즈비언",
}

#: Sides listing several groups that keep one label for the whole side: (category, the side's
#: groups in order) -> target label. Educational_background 14-17 contrast arts/sports majors
#: with everyone else (words like 교대 지망생 or 의대생 are neither 문과 nor 이과 as such).
SIDE_LABELS: dict[tuple[str, tuple[str, ...]], str] = {
    ("Educational_background", ("문과생", "이과생")): "Liberal arts or science student",
}
